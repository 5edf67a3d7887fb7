import { memoryStore } from '@idem/store-memory';
import { claimOf, idempotency } from '@idem/web';
import { defineHandler, H3, HTTPError, readBody } from 'h3';
import { describe, expect, it } from 'vitest';
import { idempotent } from '../src/idempotent.ts';

// What docs/runtimes/h3.md says of the glue, in process (h3's app.request,
// no server): the cases the HTTP suite does not spell out for h3.
const post = (app: H3, path: string, key: string, body = '{"amount":5}') =>
  app.request(path, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
  });

const fresh = () => idempotency({ store: memoryStore(), scope: () => 'tenant' });

describe('idempotent(): idem as h3 middleware', () => {
  it("stores what h3 sends: event.res status and headers, and a JSON value's content type", async () => {
    const idem = fresh();
    let runs = 0;
    const app = new H3().post(
      '/pay',
      (event) => {
        event.res.status = 201;
        event.res.headers.set('x-run', String(++runs));
        return { runs };
      },
      { middleware: [idempotent(idem)] },
    );
    const first = await post(app, '/pay', 'k1');
    const retry = await post(app, '/pay', 'k1');
    for (const reply of [first, retry]) {
      expect(reply.status).toBe(201);
      expect(reply.headers.get('x-run')).toBe('1');
      expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    }
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(await first.json());
    expect(runs).toBe(1);
  });

  it("hands the handler its claim as claimOf(event.req), and reads the body from a clone (the handler's readBody works)", async () => {
    const idem = fresh();
    const app = new H3().post(
      '/pay',
      defineHandler({
        middleware: [idempotent(idem)],
        handler: async (event) => ({
          claimed: claimOf(event.req) !== undefined,
          body: await readBody(event),
        }),
      }),
    );
    expect(await (await post(app, '/pay', 'k1')).json()).toEqual({
      claimed: true,
      body: { amount: 5 },
    });
  });

  it('releases the key on a thrown HTTPError: h3 answers it, and the retry runs again', async () => {
    const idem = fresh();
    let runs = 0;
    const app = new H3({ silent: true }).post(
      '/pay',
      () => {
        runs++;
        throw new HTTPError({ status: 400, message: 'no' });
      },
      { middleware: [idempotent(idem)] },
    );
    for (const _ of [1, 2]) {
      const reply = await post(app, '/pay', 'k1');
      expect(reply.status).toBe(400);
      expect(((await reply.json()) as { message: string }).message).toBe('no');
    }
    expect(runs).toBe(2);
  });

  it('refuses a route under both the mount and its own options, running nothing', async () => {
    const idem = fresh();
    let runs = 0;
    const app = new H3({ silent: true })
      .use(idempotent(idem))
      .post('/pay', () => ++runs, { middleware: [idempotent(idem.route({}))] });
    expect((await post(app, '/pay', 'k1')).status).toBe(500);
    expect(runs).toBe(0);
  });

  it('refuses a body read before idem without a clone, and fingerprints one read from a clone', async () => {
    const idem = fresh();
    const app = new H3({ silent: true })
      .use('/consumed', async (event) => {
        await readBody(event);
      })
      .use('/cloned', async (event) => {
        await readBody({ req: event.req.clone() });
      })
      .post('/consumed', () => 'ran', { middleware: [idempotent(idem)] })
      .post('/cloned', () => 'ran', { middleware: [idempotent(idem)] });
    expect((await post(app, '/consumed', 'k1')).status).toBe(500);
    expect((await post(app, '/cloned', 'k2')).status).toBe(200);
    expect((await post(app, '/cloned', 'k2', '{"amount":6}')).status).toBe(422);
  });
});
