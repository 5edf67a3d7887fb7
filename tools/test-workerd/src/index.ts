/**
 * `@idem/test-workerd`: the Node side. {@link workerdStoreSuite} bundles a
 * Worker whose default export is `checksWorker(...)` (from
 * `@idem/test-workerd/worker`), starts it in miniflare, and declares one
 * vitest test per check of each of its suites, titled as `storeSuite` titles
 * them. Each test is one request: the whole check runs inside workerd, next
 * to the D1 database or Durable Object namespace it uses, so its thousands of
 * store operations never cross miniflare's Node↔workerd proxy.
 *
 * @packageDocumentation
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { LifecycleCoverage, StoreCheckReport } from '@idem/conformance/store';
import { build } from 'esbuild';
import { Miniflare, type WorkerOptions } from 'miniflare';
import { afterAll, describe, it } from 'vitest';
import { byteAt, type LargeBodyAnswer } from './bodies.js';
import { FC_VARIABLES, type RunAnswer, type RunRequest, type SuiteListing } from './protocol.js';

export type { CheckListing, RunAnswer, RunRequest, SuiteListing } from './protocol.js';

/** Options of {@link workerdStoreSuite}. */
export interface WorkerdStoreSuiteOptions {
  /**
   * The Worker's entry module (a path or `file:` URL): its default export is
   * `checksWorker(...)`, and it exports the Durable Object classes it binds.
   */
  readonly entry: string | URL;
  /** The Worker's bindings for miniflare (`d1Databases`, `durableObjects`, ...). */
  readonly bindings?: Omit<WorkerOptions, 'script' | 'scriptPath' | 'modules' | 'modulesRoot'>;
  /**
   * The workerd behaviour the Worker runs with.
   * @default '2025-09-01'
   */
  readonly compatibilityDate?: string;
  /**
   * Run each suite's checks concurrently (vitest's `maxConcurrency` at a
   * time): each check uses keys of its own, and workerd works on one while
   * another waits on its binding or on Node. The expiry checks of a
   * `'server'`-clock suite still run one at a time, alone: they sleep through
   * leases of a second and expect a renewed lease to hold 400 ms later,
   * which a busy isolate delays past.
   * @default true
   */
  readonly concurrent?: boolean;
}

/** The running Worker behind the declared tests, for a file's own extra tests. */
export interface WorkerdSuite {
  readonly mf: Miniflare;
  /** What the Worker listed: its suites and their checks. */
  readonly suites: readonly SuiteListing[];
}

/**
 * Bundle the Worker, start it once for the test file (disposed after all its
 * tests) and declare its suites' checks as vitest tests, one `describe` per
 * suite. Call it with top-level `await`: the tests are known only once the
 * Worker has listed them. `FC_NUM_RUNS`, `FC_SEED` and `FC_PATH` are
 * forwarded to the Worker with every check, and a failing check's message
 * (for a property: fast-check's seed, path and counterexample) becomes the
 * test's failure. The model check's lifecycle coverage lands in its test's
 * `meta.lifecycle`, as with `storeSuite`.
 */
export async function workerdStoreSuite(options: WorkerdStoreSuiteOptions): Promise<WorkerdSuite> {
  const storage = storageDirectory();
  // Whatever workerd prints while the checks run (its warnings included)
  // fails the file instead of scrolling past in the test output.
  const output = runtimeOutput();
  const mf = new Miniflare({
    ...options.bindings,
    modules: true,
    script: await bundle(options.entry),
    compatibilityDate: options.compatibilityDate ?? '2025-09-01',
    defaultPersistRoot: storage,
    handleRuntimeStdio: output.handleRuntimeStdio,
  });
  afterAll(async () => {
    await mf.dispose();
    rmSync(storage, { recursive: true, force: true });
    const printed = output.text().trim();
    if (printed) throw new Error(`workerd printed while the store checks ran:\n${printed}`);
  });
  const listed = await mf.dispatchFetch('http://checks.test/checks');
  if (!listed.ok)
    throw new Error(`the checks Worker listed no checks: ${listed.status} ${await listed.text()}`);
  const suites = (await listed.json()) as SuiteListing[];
  for (const suite of suites) declare(mf, suite, options.concurrent ?? true);
  return { mf, suites };
}

function declare(mf: Miniflare, suite: SuiteListing, concurrent: boolean): void {
  describe(`@idem/conformance store suite: ${suite.name}`, () => {
    if (suite.skip) {
      it.skip(`skipped: ${suite.skip}`, () => {});
      return;
    }
    suite.checks.forEach((check, index) => {
      const title = `${check.group}: ${check.name}`;
      if (check.skip) {
        it.skip(`${title} (skipped: ${check.skip})`, () => {});
        return;
      }
      const timed = suite.clock === 'server' && check.group === 'expiry';
      it(title, { concurrent: concurrent && !timed, timeout: suite.timeoutMs }, async ({
        task,
      }) => {
        const report = await runCheck(mf, suite.id, index, check.name);
        // Kept in the test's meta: the JSON reporter carries it to tools that sum coverage.
        // (@idem/conformance/store declares `lifecycle` on vitest's TaskMeta for its own tests.)
        if (report?.lifecycle)
          (task.meta as { lifecycle?: LifecycleCoverage }).lifecycle = report.lifecycle;
      });
    });
  });
}

/** Run one check in the Worker; throws the Worker's failure as this test's error. */
async function runCheck(
  mf: Miniflare,
  suite: string,
  index: number,
  name: string,
): Promise<StoreCheckReport | null> {
  const env: Record<string, string> = {};
  for (const variable of FC_VARIABLES) {
    const value = process.env[variable];
    if (value !== undefined) env[variable] = value;
  }
  const request: RunRequest = { name, env };
  const res = await mf.dispatchFetch(`http://checks.test/run/${suite}/${index}`, {
    method: 'POST',
    body: JSON.stringify(request),
  });
  if (!res.ok) throw new Error(`the checks Worker answered ${res.status}: ${await res.text()}`);
  const answer = (await res.json()) as RunAnswer;
  if (answer.ok) return answer.report;
  const error = new Error(answer.message);
  error.name = answer.name;
  // The Worker's frames (in its bundle) say where inside workerd it failed.
  error.stack = `${answer.name}: ${answer.message}\n    (inside workerd)\n${answer.stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .join('\n')}`;
  throw error;
}

/**
 * A fresh directory for the Worker's D1 databases and Durable Objects, in
 * memory (tmpfs) where the system has one: every write of the store commits
 * a SQLite transaction, which on a disk waits for it.
 */
function storageDirectory(): string {
  const root = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(root, 'idem-test-workerd-'));
}

/** What workerd printed (Workers' consoles, its own warnings), kept instead of passed through. */
export interface RuntimeOutput {
  /** Give it to Miniflare as its `handleRuntimeStdio` option. */
  handleRuntimeStdio(stdout: Readable, stderr: Readable): void;
  /** Everything printed so far. */
  text(): string;
}

/** Keep what workerd prints, for a test to check, rather than let it into the test output. */
export function runtimeOutput(): RuntimeOutput {
  let printed = '';
  return {
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) {
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          printed += chunk;
        });
      }
    },
    text: () => printed,
  };
}

/** What `largeBodyRoundTrip` (from `@idem/test-workerd/worker`) must answer for a store keeping `maxResponseBytes`. */
export function largeBodyAnswer(maxResponseBytes: number): LargeBodyAnswer {
  const stored = new Uint8Array(maxResponseBytes + 100).map((_, i) => byteAt(i)).subarray(100);
  return {
    maxResponseBytes,
    completed: 'ok',
    state: 'completed',
    byteLength: maxResponseBytes,
    sha256: createHash('sha256').update(stored).digest('hex'),
  };
}

/** Bundle the entry as wrangler would: browser platform, workerd conditions, workspace sources. */
export async function bundle(entry: string | URL): Promise<string> {
  const result = await build({
    entryPoints: [entry instanceof URL ? fileURLToPath(entry) : entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['@idem/source', 'workerd', 'worker', 'browser'],
    external: ['cloudflare:*'],
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}
