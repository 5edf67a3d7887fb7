import { describe, expect, it } from 'vitest';
import { bundleFor, findDeno, reachRedis, redisUrl, runDeno, scratch } from './deno.js';

// docs/runtimes/deno.md's example (src/payments.ts, its `npm:` imports
// resolved to this workspace's packages) run by Deno with the permissions
// the page gives. Its two records expire with the store's default expiry.
const deno = await findDeno();
const redis = await reachRedis();

describe.skipIf(!deno || !redis)("docs/runtimes/deno.md's example under Deno", () => {
  it('replays a second POST under one key, and the handler ran once', async () => {
    const files = await scratch();
    const script = await bundleFor(
      new URL('../src/payments.ts', import.meta.url).pathname,
      files.dir,
    );
    const server = await runDeno(deno!, ['--allow-net', '--allow-env'], [script], {
      env: { PORT: '0', REDIS_URL: redisUrl },
      stream: 'stderr',
    });
    try {
      // Deno.serve's own first line: "Listening on http://0.0.0.0:<port>/ …".
      const port = /:(\d+)\//.exec(server.firstLine)?.[1];
      expect(port, server.firstLine).toBeDefined();
      const account = `Bearer acct_${Date.now().toString(36)}`;
      const pay = (key: string) =>
        fetch(`http://127.0.0.1:${port}/payments`, {
          method: 'POST',
          headers: {
            authorization: account,
            'idempotency-key': key,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ amount: 1999 }),
        });
      const first = await pay('order-1');
      expect([first.status, first.headers.get('idempotent-replayed')]).toEqual([201, null]);
      expect(await first.json()).toEqual({ id: 'pay_1', amount: 1999 });
      const second = await pay('order-1');
      expect([second.status, second.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
      expect(await second.json()).toEqual({ id: 'pay_1', amount: 1999 });
      // The next key gets the handler's second run: the replay did not run it.
      const next = await pay('order-2');
      expect(await next.json()).toEqual({ id: 'pay_2', amount: 1999 });
    } finally {
      await server.stop();
      await files.remove();
    }
  }, 120_000);
});
