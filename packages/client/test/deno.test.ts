import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { reachServer } from '@idem/conformance';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { type Reply, scriptServer } from './script-server.js';

/**
 * The client in Deno: test/deno/pay.ts, bundled, run by the `deno` npm
 * package through npx (DENO_BIN overrides it with a binary). Unavailable:
 * skipped with a banner; with CI=true, a failure.
 */

const run = promisify(execFile);
const DENO_VERSION = '2.9.6';
const deno: [string, string[]] = process.env.DENO_BIN
  ? [process.env.DENO_BIN, []]
  : ['npx', ['-y', `deno@${DENO_VERSION}`]];

const available = await reachServer('Deno', deno.flat().join(' '), () =>
  run(deno[0], [...deno[1], '--version'], { timeout: 180_000 }),
);

const dir = await mkdtemp(join(tmpdir(), 'idem-client-deno-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe.skipIf(!available)('in Deno', () => {
  it('retries a dropped answer and a 503 under one key, resending a one-shot stream body', async () => {
    const bundle = await build({
      entryPoints: [new URL('./deno/pay.ts', import.meta.url).pathname],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      conditions: ['@idem/source'],
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const script = join(dir, 'pay.js');
    await writeFile(script, bundle.outputFiles[0]!.text);
    const server = await scriptServer(
      (_request, n): Reply =>
        n === 0
          ? { destroy: true }
          : n === 1
            ? { status: 503, headers: { 'retry-after': '0' } }
            : { status: 201, headers: { 'idempotent-replayed': 'true' }, body: 'paid' },
    );
    try {
      const { stdout } = await run(
        deno[0],
        [...deno[1], 'run', '--allow-net', '--no-prompt', script, `${server.url}/payments`],
        { timeout: 120_000 },
      );
      const seen = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(seen).toEqual({
        status: 201,
        text: 'paid',
        info: { key: expect.any(String), attempts: 3, replayed: true },
      });
      expect(server.received.map((r) => [r.headers['idempotency-key'], r.body.toString()])).toEqual(
        Array(3).fill([seen.info.key, '{"amount":1999}']),
      );
    } finally {
      await server.close();
    }
  }, 180_000);
});
