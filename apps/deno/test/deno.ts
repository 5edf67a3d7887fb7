import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { reachServer } from '@idem/conformance';
import type { Runtime, ServerSpec } from '@idem/test-runtimes';
import { build, type Plugin } from 'esbuild';
import { Redis } from 'ioredis';

/**
 * Deno for the tests: the `deno` npm package (a devDependency of this app)
 * and its platform package (`@deno/linux-x64-glibc` here), whose binary the
 * package's own `install_api.cjs` finds; pnpm need not run its postinstall.
 * `DENO_BIN` overrides it with a binary of your own.
 */
function denoBinary(): string {
  if (process.env.DENO_BIN) return process.env.DENO_BIN;
  const require = createRequire(import.meta.url);
  return (require('deno/install_api.cjs') as { runInstall(): string }).runInstall();
}

/** The Deno binary, or `undefined` (a loud skip; with CI=true, a failure) when it does not run. */
export async function findDeno(): Promise<string | undefined> {
  let deno = '';
  const where = process.env.DENO_BIN ?? "the deno package (apps/deno's devDependency)";
  const runs = await reachServer('Deno', where, async () => {
    deno = denoBinary();
    await promisify(execFile)(deno, ['--version'], { timeout: 60_000 });
  });
  return runs ? deno : undefined;
}

/** The Redis the tests use (`REDIS_URL`). */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether Redis answers: if not, a loud skip; with CI=true, a failure. */
export function reachRedis(): Promise<boolean> {
  return reachServer('Redis', redisUrl, async () => {
    const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  });
}

/** Delete the Redis records under `prefix`, as a test leaves them. */
export async function deleteRecords(prefix: string): Promise<void> {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    for await (const keys of client.scanStream({ match: `${prefix}*`, count: 500 })) {
      if ((keys as string[]).length > 0) await client.del(...(keys as string[]));
    }
  } finally {
    client.disconnect();
  }
}

/**
 * `npm:` specifiers as Deno users write them (`npm:@idem/web@0.1.0/sub`)
 * resolve to this workspace's packages, so the docs' example runs here as
 * written, on the sources of the packages it names.
 */
const npmSpecifiers: Plugin = {
  name: 'npm-specifiers',
  setup(bundle) {
    bundle.onResolve({ filter: /^npm:/ }, ({ path, resolveDir, kind }) => {
      const [, name, subpath = ''] = /^npm:((?:@[^/]+\/)?[^@/]+)(?:@[^/]*)?(\/.*)?$/.exec(path)!;
      return bundle.resolve(`${name}${subpath}`, { resolveDir, kind });
    });
  },
};

/**
 * `entry` and what it imports (workspace sources through `@idem/source`,
 * npm packages from node_modules, Node's built-ins left to Deno's `node:`
 * modules) as one ES module in `dir`.
 */
export async function bundleFor(entry: string, dir: string): Promise<string> {
  const out = join(dir, `${entry.replace(/\W+/g, '_')}.js`);
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    format: 'esm',
    platform: 'node',
    conditions: ['@idem/source'],
    target: 'es2022',
    plugins: [npmSpecifiers],
    // CommonJS packages (ioredis) require() Node's built-ins: Deno gives ES
    // modules a require of its own through node:module.
    banner: {
      js: "import { createRequire as __idemRequire } from 'node:module'; const require = __idemRequire(import.meta.url);",
    },
    logLevel: 'silent',
  });
  return out;
}

/**
 * A Deno process running `script`, and the first line it printed on
 * `stream` (Deno.serve's own "Listening on …" goes to stderr). The rest of
 * its output goes to this process's stderr.
 */
export async function runDeno(
  deno: string,
  permissions: readonly string[],
  [script, ...args]: readonly [string, ...string[]],
  {
    env = {},
    stream = 'stdout',
  }: { env?: Record<string, string>; stream?: 'stdout' | 'stderr' } = {},
): Promise<{ firstLine: string; stop(): Promise<void> }> {
  const child = spawn(deno, ['run', '--no-prompt', ...permissions, script, ...args], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    await exited;
  };
  const lines = createInterface({ input: child[stream]! });
  const other = stream === 'stdout' ? child.stderr! : child.stdout!;
  other.pipe(process.stderr);
  try {
    const firstLine = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`deno exited (${code}) before printing`)));
      child.once('error', reject);
      setTimeout(() => reject(new Error('deno printed nothing for 60 s')), 60_000).unref();
    });
    lines.on('line', (line) => process.stderr.write(`${line}\n`));
    return { firstLine, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A scratch directory for bundles, removed by `remove`. */
export async function scratch(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'idem-deno-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** src/harness.ts, bundled into `dir`. */
export function harnessScript(dir: string): Promise<string> {
  return bundleFor(new URL('../src/harness.ts', import.meta.url).pathname, dir);
}

/** The Redis libraries the harness builds stores on. */
export type RedisLibrary = 'ioredis' | 'redis';

/**
 * The bridge's runtime: the harness `script` under Deno, started and stopped
 * over its control endpoint; its Redis stores are on `library`, their
 * records under `prefix`. ioredis needs `--allow-env` (its `debug`
 * dependency lists the whole environment when it loads); node-redis
 * needs nothing but the network.
 */
export async function denoRuntime(
  deno: string,
  script: string,
  prefix: string,
  library: RedisLibrary,
): Promise<Runtime & { close(): Promise<void> }> {
  const permissions = ['--allow-net=127.0.0.1', ...(library === 'ioredis' ? ['--allow-env'] : [])];
  const harness = await runDeno(deno, permissions, [script, prefix, library]);
  const control = harness.firstLine;
  const call = async (method: string, path: string, body?: string) => {
    const response = await fetch(`${control}${path}`, { method, body });
    const text = await response.text();
    if (!response.ok) throw new Error(`Deno harness: ${response.status} ${text}`);
    return text;
  };
  return {
    start: (spec: ServerSpec) => call('PUT', '/servers', JSON.stringify(spec)),
    stop: async (id) => void (await call('DELETE', `/servers/${id}`)),
    close: harness.stop,
  };
}
