import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { type BunProcess, bunAvailable, startBun } from './bun.ts';

// The docs' examples (docs/runtimes/bun.md and elysia.md, kept equal to
// these files by docs.test.ts), started by Bun as a user starts them, on Redis.
const available = await bunAvailable();
const reachable = await reachableStores({ label: 'bun_examples', only: ['redis'] });
await reachable.close();
const runnable = available && reachable.stores.redis !== undefined;

const started: BunProcess[] = [];
afterAll(() => Promise.all(started.map((bun) => bun.stop())));

describe.skipIf(!runnable)('the docs examples, run by Bun', () => {
  for (const example of ['src/examples/bun-serve.ts', 'src/examples/elysia.ts']) {
    it(`${example}: a retry with the same key is a replay; the handler ran once`, async () => {
      const bun = await startBun(example, [], { PORT: '0' });
      started.push(bun);
      const url = new URL(/https?:\/\/\S+/.exec(bun.url)![0]);
      url.pathname = '/payments';
      const account = `acct_${Math.random().toString(36).slice(2, 8)}`;
      const pay = (key: string, authorization = `Bearer ${account}`, amount = 1999) =>
        fetch(url, {
          method: 'POST',
          headers: { 'idempotency-key': key, 'content-type': 'application/json', authorization },
          body: JSON.stringify({ amount }),
        });

      const first = await pay('k1');
      const second = await pay('k1');
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect(second.status).toBe(201);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      const paid = await first.json();
      expect(paid).toEqual({ id: 'pay_1', amount: 1999, account });
      expect(await second.json()).toEqual(paid);
      // The handler ran once for k1: the next key is its second run.
      expect(await (await pay('k2')).json()).toMatchObject({ id: 'pay_2' });
      // Refused before idem: nothing stored, so the same key runs once signed in.
      expect((await pay('k3', '')).status).toBe(401);
      expect(await (await pay('k3')).json()).toMatchObject({ id: 'pay_3' });
      // The same key with another body is refused; from another account it is a key of its own.
      expect((await pay('k1', `Bearer ${account}`, 5)).status).toBe(422);
      const other = `${account}_2`;
      expect(await (await pay('k1', `Bearer ${other}`)).json()).toEqual({
        id: 'pay_4',
        amount: 1999,
        account: other,
      });
    }, 120_000);
  }
});
