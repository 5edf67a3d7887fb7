import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Bundle `contents` (importing core's sources) and run it in a fresh Node process. */
async function runScript(contents: string): Promise<{ code: number | null; stdout: string }> {
  const result = await build({
    stdin: { contents, resolveDir: root, sourcefile: 'script.ts', loader: 'ts' },
    bundle: true,
    platform: 'node',
    // Core's sources, and `#native-sha256` as Node resolves it (node.ts).
    conditions: ['@idem/source'],
    format: 'esm',
    write: false,
    logLevel: 'silent',
  });
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--input-type=module'],
      { timeout: 10_000 },
      (error, stdout) => resolve({ code: error ? (error.code as number) : 0, stdout }),
    );
    child.stdin!.end(result.outputFiles[0]!.text);
  });
}

// A short-lived Node process (a script, a cron job) must not exit while idem
// still has awaited work: a 'wait' for a duplicate, or a completion retry.
it('keeps a Node script alive through a bounded wait and a completion retry', async () => {
  const { code, stdout } = await runScript(`
    import { createIdempotency } from './src/index.ts';
    import { scopedKey, transition, ABSENT, observe, toRecord } from './src/store.ts';
    const records = new Map();
    let failComplete = 1;
    const apply = (key, event) => {
      const { next, result } = transition(records.get(key) ?? ABSENT, event);
      records.set(key, next);
      return result;
    };
    const store = {
      claim: async (key, r) => apply(key, { type: 'claim', now: Date.now(), ...r }),
      complete: async (key, token, response, ttlMs) => {
        if (failComplete-- > 0) throw new Error('blip');
        return apply(key, { type: 'complete', now: Date.now(), token, response, ttlMs });
      },
      release: async (key, token) => apply(key, { type: 'release', now: Date.now(), token }),
      renew: async (key, token, leaseMs) => apply(key, { type: 'renew', now: Date.now(), token, leaseMs }),
      read: async (key) => toRecord(observe(records.get(key) ?? ABSENT, Date.now())),
    };
    const idem = createIdempotency({
      store, concurrent: 'wait', waitTimeoutMs: 300,
      hooks: { executed: (e) => console.log('stored', e.stored) },
    });
    // Another process holds 'busy' and never finishes: the wait ends in RequestInFlightError.
    await store.claim(await scopedKey('', 'busy'), { fingerprint: 'x', token: 't', leaseMs: 60_000 });
    await idem.begin({ scope: '', key: 'busy', fingerprint: 'x' }).catch((e) => console.log(e.name));
    // The completion fails once: the script's last line runs before the retry stores it.
    console.log((await idem.run('job-1', () => 'done')).kind);
  `);
  expect(stdout.trim().split('\n')).toEqual(['RequestInFlightError', 'executed', 'stored true']);
  expect(code).toBe(0);
});
