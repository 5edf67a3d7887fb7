import { describe, expect, it } from 'vitest';
import { testStore } from '../../test/store.js';
import { utf8 } from '../bytes.js';
import { bindTransaction, type Claim } from '../engine/context.js';
import type { FinishedOutcome } from '../hooks.js';
import { scopedKey } from '../scope.js';
import { createHttpIdempotency, type HttpIdempotencyOptions } from './handler.js';

/**
 * An answer `shouldStore` does not keep releases the key; with a
 * transactional store, releasing the key also rolls the handler's writes
 * back. The HTTP layer must then never send an answer that says they
 * happened (below 400).
 */

/**
 * A store whose transactions live and die with the record, as
 * `@idem/store-postgres` and `@idem/store-mysql` do: a handler's writes
 * become rows only if the record completes; releasing the key rolls them back.
 */
function transactionalStore() {
  const store = testStore();
  const pending = new Map<string, string[]>();
  const rows: string[] = [];
  return {
    rows,
    store: {
      ...store,
      async complete(...args: Parameters<typeof store.complete>) {
        const result = await store.complete(...args);
        if (result === 'ok') rows.push(...(pending.get(args[1]) ?? []));
        pending.delete(args[1]);
        return result;
      },
      async release(...args: Parameters<typeof store.release>) {
        pending.delete(args[1]); // ROLLBACK
        return store.release(...args);
      },
    },
    raw: store,
    /** `store.transaction(context)` then one INSERT on it. */
    write(context: Claim, row: string) {
      bindTransaction(context);
      pending.set(context.token, [...(pending.get(context.token) ?? []), row]);
    },
  };
}

type Ctx = Record<string, never>;

function setup(options: Partial<HttpIdempotencyOptions<Ctx>> = {}) {
  const tx = transactionalStore();
  const finished: Array<{ outcome: FinishedOutcome; status?: number }> = [];
  const released: string[] = [];
  const http = createHttpIdempotency<Ctx>({
    store: tx.store,
    scope: () => 't',
    logger: false,
    shouldStore: (status) => status === 201,
    hooks: {
      finished: ({ outcome, status }) =>
        void finished.push({ outcome, ...(status === undefined ? {} : { status }) }),
      released: ({ reason }) => void released.push(reason),
    },
    ...options,
  });
  let runs = 0;
  /** One request: the handler writes in the transaction (or not) and answers `status`. */
  async function send(
    status: number,
    { transactional = true, body = utf8('{"ok":true}') as Uint8Array | null } = {},
  ) {
    const decision = await http.handle(
      {
        method: 'POST',
        path: '/payments',
        query: '',
        header: (name) => (name === 'idempotency-key' ? 'k-1' : null),
        body: () => utf8('{}'),
      },
      {},
    );
    if (decision.kind !== 'execute') return { sent: decision };
    runs++;
    if (transactional) tx.write(decision.claim, `payment ${runs}`);
    const instead = await decision.complete({
      status,
      headers: [['content-type', 'application/json']],
      body,
    });
    return { instead };
  }
  return { ...tx, http, send, finished, released, runs: () => runs };
}

const problem = (response: { body: Uint8Array } | undefined) =>
  response && JSON.parse(new TextDecoder().decode(response.body));

describe('transactional executions whose answer is not kept', () => {
  it.each([200, 202, 204, 302])(
    'a %i not kept: the writes are rolled back and the client gets 503 rolled-back instead; every retry runs again',
    async (status) => {
      const { send, rows, raw, runs, finished, released } = setup();
      for (let attempt = 1; attempt <= 2; attempt++) {
        const { instead } = await send(status);
        expect(instead?.status).toBe(503);
        expect(instead?.headers).toContainEqual(['retry-after', '1']);
        expect(problem(instead)).toMatchObject({
          type: 'urn:idem:problem:rolled-back',
          status: 503,
          detail: expect.stringMatching(/rolled back together.*nothing took effect/),
        });
        expect(rows).toEqual([]);
        expect(raw.live(await scopedKey('t', 'k-1')).state).toBe('absent');
        expect(runs()).toBe(attempt);
      }
      // What a failed commit reports: the writes were rolled back.
      expect(released).toEqual(['rolled_back', 'rolled_back']);
      expect(finished).toEqual([{ outcome: 'rolled_back' }, { outcome: 'rolled_back' }]);
      // An answer the route keeps commits the writes with the record.
      expect((await send(201)).instead).toBeUndefined();
      expect(rows).toEqual(['payment 3']);
      expect(raw.live(await scopedKey('t', 'k-1')).state).toBe('completed');
    },
  );

  it('a 202 too large to buffer (body: null), not kept: 503 rolled-back too', async () => {
    const { send, rows } = setup();
    const { instead } = await send(202, { body: null });
    expect(problem(instead)).toMatchObject({ type: 'urn:idem:problem:rolled-back' });
    expect(rows).toEqual([]);
  });

  it("the route's problemTypeBase names the problem", async () => {
    const { send } = setup({ problemTypeBase: 'https://errors.example.com/' });
    const { instead } = await send(202);
    expect(problem(instead)?.type).toBe('https://errors.example.com/rolled-back');
  });

  it.each([400, 409, 429, 500, 503])(
    "a %i not kept: rolled back, and the handler's own answer goes out (it tells of a failure)",
    async (status) => {
      const { send, rows, raw, finished, released } = setup();
      expect((await send(status)).instead).toBeUndefined();
      expect(rows).toEqual([]);
      expect(raw.live(await scopedKey('t', 'k-1')).state).toBe('absent');
      expect(released).toEqual(['not_kept']);
      expect(finished).toEqual([{ outcome: 'executed_not_stored', status }]);
    },
  );

  it('without a transaction, a 202 not kept goes out as it is', async () => {
    const { send, raw, finished, released } = setup();
    expect((await send(202, { transactional: false })).instead).toBeUndefined();
    expect(raw.live(await scopedKey('t', 'k-1')).state).toBe('absent');
    expect(released).toEqual(['not_kept']);
    expect(finished).toEqual([{ outcome: 'executed_not_stored', status: 202 }]);
  });

  it('a transactional 202 the route keeps commits and goes out as it is', async () => {
    const { send, rows } = setup({ shouldStore: () => true });
    expect((await send(202)).instead).toBeUndefined();
    expect(rows).toEqual(['payment 1']);
  });
});
