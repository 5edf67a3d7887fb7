import { memoryStore } from '@idem/store-memory';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { type IdempotencyVariables, idempotency } from '../src/index.js';

// What route options do (key sources, required, skip, keyFormat, fingerprints,
// ttlMs and leaseMs, the body limit among them), on the mount and on a route
// with `idem.route({...})`, is the shared suite's (@idem/conformance/http,
// group `routes`): see conformance-http.test.ts. Here: how Hono mounts them.

type Env = { Variables: IdempotencyVariables };

describe('@idem/hono per-route options', () => {
  it('a route under the mount that also takes idem.route() is refused with the fix: 500, nothing runs, the key is not held', async () => {
    const store = memoryStore();
    const errors: unknown[] = [];
    const idem = idempotency<Env>({ store, scope: () => 'tenant', logger: false });
    const app = new Hono<Env>();
    let runs = 0;
    app.onError((error, c) => {
      errors.push(error);
      return c.json({ error: 'internal' }, 500);
    });
    app.use('*', idem);
    app.post('/both', idem.route({ ttlMs: 60_000 }), (c) => {
      runs++;
      return c.json({ ok: true }, 201);
    });
    const call = () =>
      app.request('/both', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'nested-1' },
        body: '{"amount":1}',
      });
    // Before: the inner middleware got 409 from the outer one's claim, and the
    // outer one stored that 409 and replayed it for a day; the handler never ran.
    expect((await call()).status).toBe(500);
    expect((await call()).status).toBe(500);
    expect(runs).toBe(0);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ code: 'CONFIGURATION' });
    expect(String((errors[0] as Error).message)).toContain('instead of the mount');
  });
});
