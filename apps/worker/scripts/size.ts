/**
 * The size budget of idem on the edge: what `@idem/hono` adds to a Worker
 * (the middleware and the parts of @idem/core it uses), bundled for workerd,
 * minified and gzipped. Hono itself is left out: it is the app's framework,
 * there with or without idem. Run `pnpm --filter @idem/worker-example size`;
 * test/size.test.ts holds the same budget in `pnpm test`.
 */
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { workerBuildOptions } from './bundle.ts';

/**
 * The budget, in gzipped bytes: 17,600. It was 16,650 before duplicates
 * in one process shared one claim and one wait (single flight: about 850 B,
 * 17,377 B measured; off by default on Workers, but one engine serves every
 * runtime). It was 8,000 before per-route
 * options, webhook presets, hooks, the store time limit and lease-loss
 * handling, 15,000 before route options were checked as strictly as
 * the mount's and transactional answers that are not kept were refused,
 * 15,500 before the store's circuit breaker (883 B: its state, probes,
 * hooks, log lines and option checks), and 16,500 before core decided the
 * order of the checks before the body for every adapter, a body the app
 * already read was taken from Hono's cache, keys could come from several
 * headers (GitHub's hook and delivery ids) and lost claims that land late
 * were looked for again (17,084 B measured with all of them); most of what
 * they add is validation whose errors name the fix. It came down from
 * 17,500 when the replay cache became `replayCache()`, which a Worker that
 * does not call it leaves out, and Node's synchronous hash moved behind the
 * `node` import condition (`#native-sha256`): 16,453 B measured, from 17,081 B
 * (about 790 B of cache and 95 B of Node code gone, hex and base64url now
 * shorter; the options resolver with its name suggestions came in between).
 * Workers' script size limits are counted in megabytes (compressed): this
 * is about 1.5% of one, and the budget keeps it from creeping further.
 */
export const BUDGET_BYTES = 17_600;

/** One measured bundle. */
export interface Measurement {
  readonly name: string;
  readonly minifiedBytes: number;
  readonly gzippedBytes: number;
  /** For comparison with tools that report brotli (size-limit). */
  readonly brotliBytes: number;
}

/** Bundle `contents` (an entry module) for workerd, minified, Hono left out. */
export async function bundleForWorkers(contents: string): Promise<Uint8Array> {
  const result = await build({
    ...workerBuildOptions,
    stdin: { contents, resolveDir: import.meta.dirname, loader: 'ts' },
    external: ['hono', 'hono/*', 'cloudflare:*'],
    minify: true,
    write: false,
  });
  return result.outputFiles[0]!.contents;
}

/** Bundle `contents` (an entry module) for workerd, minified, and measure it. */
export async function measure(name: string, contents: string): Promise<Measurement> {
  const code = await bundleForWorkers(contents);
  return {
    name,
    minifiedBytes: code.byteLength,
    gzippedBytes: gzipSync(code, { level: 9 }).byteLength,
    brotliBytes: brotliCompressSync(code).byteLength,
  };
}

/** What the budget covers: everything `@idem/hono` exports, tree-shaken as a bundler does. */
export function measureHonoMiddleware(): Promise<Measurement> {
  return measure('@idem/core + @idem/hono', "export * from '@idem/hono';");
}

/**
 * Budgets, in gzipped bytes, for `@idem/hono` with each edge store: the whole
 * of what idem adds to a Worker that keeps its records in D1 or in Durable
 * Objects (object class included). The middleware's 17,600 bytes plus 2,200
 * for a store (each adds about 2 KB, much of it error messages that name the
 * fix: about 18,400 B with D1 and 18,630 B with Durable Objects measured).
 */
export const STORE_BUDGETS = {
  '@idem/store-d1': 19_800,
  '@idem/store-durable-objects': 19_800,
} as const;

/** `@idem/core` + `@idem/hono` + one edge store, tree-shaken as a bundler does. */
export function measureWithStore(store: keyof typeof STORE_BUDGETS): Promise<Measurement> {
  return measure(
    `@idem/core + @idem/hono + ${store}`,
    `export * from '@idem/hono'; export * from '${store}';`,
  );
}

const kb = (bytes: number) => `${bytes.toLocaleString('en')} B (${(bytes / 1024).toFixed(2)} KiB)`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const budgeted = await measureHonoMiddleware();
  const stores = await Promise.all(
    (Object.keys(STORE_BUDGETS) as Array<keyof typeof STORE_BUDGETS>).map(async (store) => ({
      budget: STORE_BUDGETS[store],
      m: await measureWithStore(store),
    })),
  );
  const others = await Promise.all([
    measure(
      '+ @idem/store-memory',
      "export * from '@idem/hono'; export * from '@idem/store-memory';",
    ),
    measure(
      'all of @idem/core (its edge entries: ., /store, /http)',
      "export * from '@idem/core'; export * from '@idem/core/store'; export * from '@idem/core/http';",
    ),
  ]);
  for (const m of [budgeted, ...stores.map((s) => s.m), ...others]) {
    console.log(
      `${m.name}: ${kb(m.minifiedBytes)} minified, ${kb(m.gzippedBytes)} gzipped, ${kb(m.brotliBytes)} brotli`,
    );
  }
  let over = false;
  for (const { m, budget } of [{ m: budgeted, budget: BUDGET_BYTES }, ...stores]) {
    const within = m.gzippedBytes <= budget;
    over ||= !within;
    console.log(
      `${within ? 'within' : 'OVER'} budget: ${m.name}: ${kb(m.gzippedBytes)} ${within ? '<=' : '>'} ${kb(budget)} gzipped`,
    );
  }
  if (over) process.exit(1);
}
