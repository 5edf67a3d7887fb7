import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reachServer } from '@idem/conformance';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A release as a user meets it. `tools/release/pack.mjs` builds and packs
 * every published package; a fresh project outside the repository installs
 * the tarballs and the libraries a user adds (from the npm registry, with
 * npm), and runs an app written from each package's README, once as an ES
 * module and once as CommonJS, with plain `node`, against the local
 * PostgreSQL, MariaDB and Redis and a dynalite started here. An app imports
 * package names only, so it sees exactly what npm installed: a tarball
 * without its dist, an `exports` pointing at a missing file, or a peer range
 * npm cannot satisfy fails here, naming the package and the fix.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '../../..');
const appsDir = join(here, 'tarball-apps');
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The published packages, as pack.mjs picks them: packages/* not private. */
const published: string[] = readdirSync(join(root, 'packages'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => readJson(join(root, 'packages', entry.name, 'package.json')))
  .filter((manifest) => !manifest.private)
  .map((manifest) => manifest.name as string)
  .sort();

/** What a user installs beside idem, at the versions this repository tests with. */
function thirdParty(): Record<string, string> {
  const packaging = readJson(join(here, '..', 'package.json')).dependencies;
  const otel = readJson(join(root, 'packages/otel/package.json')).devDependencies;
  const rootDev = readJson(join(root, 'package.json')).devDependencies;
  const pick = (from: Record<string, string>, names: string[]) =>
    Object.fromEntries(names.map((name) => [name, from[name]!]));
  return {
    ...pick(packaging, [
      'hono',
      '@hono/node-server',
      'express',
      'fastify',
      'koa',
      '@koa/bodyparser',
      '@koa/router',
      'pg',
      'mysql2',
      'ioredis',
      'redis',
      '@aws-sdk/client-dynamodb',
      '@opentelemetry/api',
    ]),
    ...pick(otel, ['@opentelemetry/sdk-trace-base']),
    // @idem/conformance's peers, for the README's store suite.
    ...pick(rootDev, ['vitest', 'fast-check']),
  };
}

/**
 * The CommonJS twin of an app written as an ES module: each `import … from`
 * becomes a `require`, and the body runs in an async function (CommonJS has
 * no top-level await), as a user writing CommonJS would write it.
 */
function toCommonJs(source: string): string {
  const requires: string[] = [];
  const body = source
    .replace(/^import\s+([\s\S]+?)\s+from\s+'([^']+)';\n/gm, (_, what: string, from: string) => {
      const binding = what.startsWith('* as ')
        ? what.slice(5)
        : what.replace(/\s+as\s+/g, ': ').replace(/\s+/g, ' ');
      requires.push(`const ${binding} = require('${from}');`);
      return '';
    })
    .replaceAll('import.meta.url', "require('node:url').pathToFileURL(__filename).href");
  return `'use strict';\n${requires.join('\n')}\n\n(async () => {\n${body}\n})().catch((error) => {\n  console.error(error);\n  process.exitCode = 1;\n});\n`;
}

/**
 * The conformance README's memory-store example as a user's test file: the
 * block, and the imports its `ts-prelude` comment gives it.
 */
function conformanceExample(): string {
  const readme = readFileSync(join(root, 'packages/conformance/README.md'), 'utf8');
  for (const [, prelude, block] of readme.matchAll(
    /<!-- ts-prelude\n([\s\S]*?)-->\n```ts\n([\s\S]*?)```/g,
  )) {
    if (block!.includes("name: 'memory'")) {
      return `// packages/conformance/README.md's example, with its prelude.\n${prelude}\n${block}`;
    }
  }
  throw new Error(
    "packages/conformance/README.md has no memory-store example (a ts block after a ts-prelude, with name: 'memory'). Fix: point conformanceExample() in tarballs.deep.test.ts at the README's example.",
  );
}

/** The environment of a user's shell: none of vitest's or pnpm's variables. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = /^(PATH|HOME|TMPDIR|LANG|CI|https?_proxy|no_proxy|npm_config_registry)$/i;
  return {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => keep.test(name))),
    ...extra,
  };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeout = 60_000,
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env, timeout, maxBuffer: 32 << 20, encoding: 'utf8' },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | null) ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** An app's JSON report, which each check reads field by field. */
// biome-ignore lint/suspicious/noExplicitAny: the apps are JavaScript; the checks are the types.
type Report = any;

/** The last line of an app's output, which is its JSON report. */
function report(name: string, ran: Ran): Report {
  const last = ran.stdout.trim().split('\n').pop() ?? '';
  if (ran.code !== 0 || !last.startsWith('{')) {
    throw new Error(
      `${name} failed (exit ${ran.code}) in the project that installed the tarballs:\n${ran.stderr}${ran.stdout}`,
    );
  }
  return JSON.parse(last);
}

const probes = {
  postgres: () =>
    reachServer('PostgreSQL', DATABASE_URL, async () => {
      const client = new pg.Client({
        connectionString: DATABASE_URL,
        connectionTimeoutMillis: 3_000,
      });
      await client.connect();
      await client.end();
    }),
  mysql: () =>
    reachServer('MySQL', MYSQL_URL, async () => {
      const connection = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3_000 });
      await connection.end();
    }),
  redis: () =>
    reachServer('Redis', REDIS_URL, async () => {
      const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
      client.on('error', () => {});
      try {
        await client.connect();
      } finally {
        client.disconnect();
      }
    }),
};
const up = {
  postgres: await probes.postgres(),
  mysql: await probes.mysql(),
  redis: await probes.redis(),
};

let scratch = '';
let project = '';
let dynamodbEndpoint = '';
let dynalite: Server | undefined;
/** What loading each entry point gave, by format: its export names or its error. */
const loaded: Record<'esm' | 'cjs', Record<string, { keys?: string[]; error?: string }>> = {
  esm: {},
  cjs: {},
};

function setUp(): void {
  scratch = mkdtempSync(join(tmpdir(), 'idem-tarballs-'));
  const tarballs = join(scratch, 'tarballs');
  // pack.mjs builds (turbo: cached when nothing changed), packs and checks every tarball.
  let packed: { name: string; file: string }[];
  try {
    const json = execFileSync(
      process.execPath,
      [join(root, 'tools/release/pack.mjs'), '--out', tarballs, '--json'],
      { cwd: root, encoding: 'utf8', stdio: 'pipe', timeout: 600_000, maxBuffer: 64 << 20 },
    );
    packed = JSON.parse(json);
  } catch (error) {
    const { stderr = '' } = error as { stderr?: string };
    // No `cause`: it would print the same output a second time.
    throw new Error(`packing failed (node tools/release/pack.mjs):\n${stderr}`);
  }
  expect(packed.map((p) => p.name).sort()).toEqual(published);

  project = join(scratch, 'app');
  mkdirSync(project);
  const dependencies: Record<string, string> = { ...thirdParty() };
  for (const { name, file } of packed) dependencies[name] = `file:${file}`;
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'idem-user-app', private: true, dependencies }, null, 2),
  );
  for (const file of readdirSync(appsDir)) {
    const source = readFileSync(join(appsDir, file), 'utf8');
    writeFileSync(join(project, file), source);
    if (file.endsWith('.mjs') && !file.endsWith('.test.mjs')) {
      writeFileSync(join(project, file.replace(/\.mjs$/, '.cjs')), toCommonJs(source));
    }
  }
  writeFileSync(join(project, 'conformance.test.mjs'), conformanceExample());
  try {
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: project,
      env: userEnv(),
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 300_000,
    });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `npm install of the tarballs (${packed.map((p) => p.name).join(', ')}) in a fresh project failed. ` +
        `Fix the package npm names below: an ERESOLVE names a peer range no release satisfies ` +
        `(package.json peerDependencies), an ENOENT or a 404 a dependency that is not published.\n${stdout}${stderr}`,
    );
  }
}

/** Loads every entry point of every package by import (ESM) and by require (CommonJS). */
async function loadAll(): Promise<void> {
  const entries: string[] = [];
  for (const name of published) {
    const { exports } = readJson(join(project, 'node_modules', name, 'package.json'));
    for (const subpath of Object.keys(exports ?? { '.': '' })) {
      if (subpath === './package.json') continue;
      entries.push(subpath === '.' ? name : `${name}/${subpath.slice(2)}`);
    }
  }
  const names = (m: object) =>
    Object.keys(m)
      .filter((k) => k !== 'default' && k !== '__esModule')
      .sort();
  const loader = (load: string) => `
    const entries = ${JSON.stringify(entries)};
    const out = {};
    const names = ${names.toString()};
    (async () => {
      for (const entry of entries) {
        try { out[entry] = { keys: names(await ${load}(entry)) }; }
        catch (error) { out[entry] = { error: String(error && error.stack || error) }; }
      }
      console.log(JSON.stringify(out));
    })();`;
  writeFileSync(join(project, 'load.mjs'), loader('import'));
  writeFileSync(join(project, 'load.cjs'), loader('require'));
  for (const format of ['esm', 'cjs'] as const) {
    const file = format === 'esm' ? 'load.mjs' : 'load.cjs';
    loaded[format] = report(file, await run(process.execPath, [file], project, userEnv()));
  }
}

beforeAll(async () => {
  setUp();
  await loadAll();
  // DynamoDB for the store-dynamodb app: dynalite, from this repository's devDependencies.
  const createDynalite = createRequire(import.meta.url)('dynalite') as (options: object) => Server;
  dynalite = createDynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => dynalite!.listen(0, '127.0.0.1', resolve));
  dynamodbEndpoint = `http://127.0.0.1:${(dynalite.address() as AddressInfo).port}`;
}, 900_000);

afterAll(async () => {
  if (dynalite) await new Promise((resolve) => dynalite!.close(resolve));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Whether an entry point failed by require() only because it runs inside vitest, which refuses require(). */
function vitestOnly(name: string, error: string | undefined): boolean {
  return (
    name === '@idem/conformance' &&
    /Vitest cannot be imported in a CommonJS module/.test(error ?? '')
  );
}

describe('every package loads from its tarball', () => {
  it.each(published)('%s: by import and by require, with the same exports', (name) => {
    const entries = Object.keys(loaded.esm).filter((e) => e === name || e.startsWith(`${name}/`));
    expect(entries.length, `${name} has no entry point`).toBeGreaterThan(0);
    for (const entry of entries) {
      if (vitestOnly(name, loaded.cjs[entry]?.error)) {
        // Vitest refuses require() (it is ESM-only); a suite that runs in it is imported, as vitest imports test files.
        expect(loaded.esm[entry]?.keys?.length, `${entry} exports nothing`).toBeGreaterThan(0);
        continue;
      }
      for (const format of ['esm', 'cjs'] as const) {
        const { error, keys } = loaded[format][entry] ?? {};
        if (error) {
          throw new Error(
            `${entry} does not load by ${format === 'esm' ? 'import' : 'require'} from its tarball. ` +
              `Fix ${name}'s package.json publishConfig.exports (each condition must point at a file ` +
              `tsup writes) or its tsup entries:\n${error}`,
          );
        }
        expect(keys?.length, `${entry} (${format}) exports nothing`).toBeGreaterThan(0);
      }
      expect(
        loaded.cjs[entry]?.keys,
        `${entry}: require and import give different exports`,
      ).toEqual(loaded.esm[entry]?.keys);
    }
  });
});

/** Runs an app from the installed project, as an ES module and as CommonJS. */
async function runApp(name: string, format: 'mjs' | 'cjs'): Promise<Report> {
  const runId = `${name}_${format}_${process.pid}_${Date.now().toString(36)}`.replace(/\W/g, '_');
  const env = userEnv({
    RUN_ID: runId,
    DATABASE_URL,
    MYSQL_URL,
    REDIS_URL,
    DYNAMODB_ENDPOINT: dynamodbEndpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'dynalite',
    AWS_SECRET_ACCESS_KEY: 'dynalite',
  });
  const file = `${name}.${format}`;
  return report(file, await run(process.execPath, [file], project, env));
}

/** One key POSTed twice: one run, the same body replayed; another key runs again. */
function expectExactlyOnceOverHttp(result: Report): void {
  expect(result.first.status).toBe(201);
  expect(result.first.replayed).toBe(false);
  expect(result.second.status).toBe(201);
  expect(result.second.replayed).toBe(true);
  expect(result.second.body).toEqual(result.first.body);
  expect(result.first.body.run).toBe(1);
  expect(result.other.status).toBe(201);
  expect(result.other.body.run).toBe(2);
  expect(result.runs).toBe(2);
}

/** run() twice under one key: executed, then replayed with the same value; the job ran once. */
function expectRunOnce({ outcomes, executions }: Report): void {
  expect(outcomes.map((o: { kind: string }) => o.kind)).toEqual(['executed', 'replayed']);
  expect(outcomes[1].value).toEqual(outcomes[0].value);
  expect(executions).toBe(1);
}

const apps: { name: string; skip?: string | false; check: (result: Report) => void }[] = [
  {
    name: 'core',
    check: (r) => {
      expect(r.kinds).toEqual(['executed', 'replayed']);
      expect(r.values[1]).toEqual(r.values[0]);
      expect(r.charges).toBe(1);
    },
  },
  {
    name: 'store-memory',
    check: (r) => {
      expect(r.kinds).toEqual(['executed', 'replayed']);
      expect(r.values).toEqual([
        { invoiced: true, run: 1 },
        { invoiced: true, run: 1 },
      ]);
      expect(r.runs).toBe(1);
    },
  },
  { name: 'hono', check: expectExactlyOnceOverHttp },
  { name: 'express', check: expectExactlyOnceOverHttp },
  { name: 'koa', check: expectExactlyOnceOverHttp },
  { name: 'web', check: expectExactlyOnceOverHttp },
  { name: 'fastify', check: expectExactlyOnceOverHttp },
  {
    name: 'store-postgres',
    skip: !up.postgres && 'PostgreSQL is not reachable',
    check: (r) => {
      expectExactlyOnceOverHttp(r);
      expect(r.paymentRows).toBe(2);
      expectRunOnce(r);
    },
  },
  {
    name: 'store-mysql',
    skip: !up.mysql && 'MySQL is not reachable',
    check: (r) => {
      expectExactlyOnceOverHttp(r);
      expect(r.paymentRows).toBe(2);
      expectRunOnce(r);
    },
  },
  {
    name: 'store-redis',
    skip: !up.redis && 'Redis is not reachable',
    check: (r) => {
      expectRunOnce(r.ioredis);
      expectRunOnce(r['node-redis']);
    },
  },
  {
    name: 'store-dynamodb',
    check: (r) => {
      expectExactlyOnceOverHttp(r);
      expectRunOnce(r);
    },
  },
  {
    name: 'otel',
    check: (r) => {
      expect(r.kinds).toEqual(['executed', 'replayed']);
      expect(r.invoices).toBe(1);
      expect(r.spans).toEqual(expect.arrayContaining(['idem executed', 'idem replayed']));
    },
  },
  {
    // D1 and Durable Objects run in workerd, which a plain Node project has not: their stores
    // are built on a binding here, and their behaviour is tested in workerd by their own suites.
    name: 'workers',
    check: (r) => {
      expect(r.d1).toEqual({ claim: 'function', migrate: 'function', migration: true });
      expect(r.durableObjects).toEqual({ claim: 'function' });
      expect(r.refused).toEqual({
        d1WithoutBinding: 'CONFIGURATION',
        durableObjectsWithoutNamespace: 'CONFIGURATION',
        objectOutsideWorkerd: 'CONFIGURATION',
      });
    },
  },
];

/** A package of tools/test-workerd's (esbuild, miniflare): workerd is a test tool here, not a user's dependency. */
const fromTestWorkerd = createRequire(join(root, 'tools/test-workerd/package.json'));

interface Bundler {
  build(options: object): Promise<{ outputFiles: { text: string }[] }>;
}
interface Workerd {
  dispatchFetch(url: string, init: object): Promise<Response>;
  dispose(): Promise<void>;
}

describe('the Workers stores in workerd, installed from the tarballs', () => {
  it("the D1 and Durable Objects READMEs' Worker: one key POSTed twice runs once and replays the body", async () => {
    const esbuild = fromTestWorkerd('esbuild') as Bundler;
    const { Miniflare } = fromTestWorkerd('miniflare') as {
      Miniflare: new (options: object) => Workerd;
    };
    // As wrangler bundles: workerd conditions, from the project's node_modules (the tarballs).
    const bundled = await esbuild.build({
      entryPoints: [join(project, 'cloudflare-worker.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      conditions: ['workerd', 'worker', 'browser'],
      external: ['cloudflare:*'],
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const mf = new Miniflare({
      modules: true,
      script: bundled.outputFiles[0]!.text,
      compatibilityDate: '2025-09-01',
      d1Databases: { IDEM_DB: 'idem-tarballs' },
      durableObjects: { IDEMPOTENCY: { className: 'IdempotencyObject', useSQLite: true } },
    });
    try {
      for (const store of ['d1', 'do']) {
        const post = async (key: string) => {
          const response = await mf.dispatchFetch(`http://worker.test/${store}/payments`, {
            method: 'POST',
            headers: { authorization: 'Bearer acct_1', 'idempotency-key': key },
          });
          return {
            status: response.status,
            replayed: response.headers.get('idempotent-replayed'),
            body: (await response.json()) as { run: number },
          };
        };
        const first = await post(`${store}-1`);
        const second = await post(`${store}-1`);
        const other = await post(`${store}-2`);
        expect(first.status, store).toBe(201);
        expect(second.replayed, store).toBe('true');
        expect(second.body, store).toEqual(first.body);
        expect(other.body.run, store).toBe(first.body.run + 1);
      }
    } finally {
      await mf.dispose();
    }
  }, 60_000);
});

describe.concurrent('an app from each README, installed from the tarballs', () => {
  for (const { name, skip, check } of apps) {
    for (const format of ['mjs', 'cjs'] as const) {
      it.skipIf(skip)(
        `${name} (${format === 'mjs' ? 'ES module' : 'CommonJS'})`,
        async () => {
          check(await runApp(name, format));
        },
        60_000,
      );
    }
  }

  it("@idem/conformance's store suite, in the user's own vitest, on the memory store", async () => {
    const ran = await run(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', 'conformance.test.mjs', '--reporter=dot'],
      project,
      userEnv({ NO_COLOR: '1' }),
      120_000,
    );
    if (ran.code !== 0) {
      throw new Error(
        `the store suite of the @idem/conformance tarball failed on the @idem/store-memory tarball:\n${ran.stdout}${ran.stderr}`,
      );
    }
    // Colours, should vitest print them anyway.
    const summary = ran.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    expect(summary).toMatch(/Tests\s+\d+ passed/);
    expect(summary).not.toMatch(/\d+ failed/);
  }, 150_000);
});
