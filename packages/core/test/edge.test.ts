import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The edge check: @idem/core (both entry points) must run on runtimes without
 * Node built-ins (Cloudflare Workers, Deno, Vercel Edge, browsers). Two proofs:
 * esbuild bundles it for the `neutral` platform with nothing external, which
 * fails on any import it cannot resolve (`node:crypto`, `buffer`, …), and the
 * bundle then runs in a `node:vm` context holding only Web globals.
 */

const root = fileURLToPath(new URL('..', import.meta.url));

/** Node built-in module names, bare and `node:`-prefixed. */
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * Node-only references left in bundled code: imports of built-in modules, and
 * free uses of Node's globals (a ReferenceError on a neutral runtime). A
 * property read such as `globalThis.Buffer` is not flagged: it fails only on
 * the code path that reaches it (Node-only helpers of core/http), and the run
 * in a Web-only context below proves the common paths never do.
 */
function nodeReferences(code: string): string[] {
  const found: string[] = [];
  for (const m of code.matchAll(
    /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["']([^"']+)["']/g,
  )) {
    if (builtins.has(m[1]!) || m[1]!.startsWith('node:')) found.push(m[0]);
  }
  // `(?<![.\w$])`: a free identifier, not a property name.
  for (const re of [
    /\bnode:[a-z_/]+/g,
    /(?<![.\w$])require\s*\(/g,
    /(?<![.\w$])process\s*[.[]/g,
    /(?<![.\w$])Buffer\b/g,
    /(?<![.\w$])(?:__dirname|__filename)\b/g,
    /(?<![.\w$])setImmediate\b/g,
    /(?<![.\w$])global\s*\./g,
  ]) {
    for (const m of code.matchAll(re)) found.push(m[0]);
  }
  return found;
}

async function bundle(contents: string, format: 'esm' | 'iife'): Promise<string> {
  const result = await build({
    stdin: { contents, resolveDir: root, sourcefile: 'edge-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'neutral',
    // Core's sources, and `#native-sha256` as Workers resolve it (web.ts: no `node` condition).
    conditions: ['@idem/source'],
    format,
    ...(format === 'iife' ? { globalName: 'edge' } : {}),
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Globals a Web-standard runtime provides; nothing from Node. */
function webContext(): vm.Context {
  return vm.createContext({
    TextEncoder,
    TextDecoder,
    btoa,
    crypto: globalThis.crypto,
    setTimeout,
    clearTimeout,
    ReadableStream,
    URL,
    Headers,
    console,
  });
}

describe('edge check: core without Node built-ins', () => {
  it('bundles src/index.ts, src/store.ts and src/http.ts for the neutral platform, with no Node reference', async () => {
    const result = await build({
      entryPoints: ['src/index.ts', 'src/store.ts', 'src/http.ts'],
      absWorkingDir: root,
      bundle: true,
      platform: 'neutral',
      conditions: ['@idem/source'],
      format: 'esm',
      outdir: 'edge-out',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    // Everything bundled comes from core's own sources: no package, no built-in.
    expect(Object.keys(result.metafile.inputs).every((p) => p.startsWith('src/'))).toBe(true);
    expect(result.outputFiles).toHaveLength(3);
    for (const file of result.outputFiles) expect(nodeReferences(file.text), file.path).toEqual([]);
  });

  it('has teeth: a Node import fails the neutral build, and Node globals are caught', async () => {
    await expect(
      bundle(`import { randomUUID } from 'node:crypto'; randomUUID();`, 'esm'),
    ).rejects.toThrow(/Could not resolve "node:crypto"/);
    await expect(
      bundle(`import { Buffer } from 'buffer'; Buffer.alloc(1);`, 'esm'),
    ).rejects.toThrow(/Could not resolve "buffer"/);
    expect(nodeReferences(await bundle('export const x = process.env.X;', 'esm'))).toEqual([
      'process.',
    ]);
    expect(nodeReferences('const b = Buffer.from("x");')).toEqual(['Buffer']);
    expect(nodeReferences('const b = globalThis.Buffer.from("x");')).toEqual([]);
  });

  it('hashes with Web Crypto exactly as with node:crypto (fingerprints and store keys agree)', async () => {
    const code = await bundle(
      `
      import { fingerprintRequest } from './src/http.ts';
      import { scopedKey } from './src/store.ts';
      export async function main(cases) {
        const out = [];
        for (const c of cases) {
          out.push(await scopedKey(c.scope, c.key));
          out.push(await fingerprintRequest({ ...c.request, body: new TextEncoder().encode(c.body) }));
        }
        return JSON.stringify(out);
      }
      `,
      'iife',
    );
    const cases = [
      { scope: 't', key: 'k', request: { method: 'post', path: '/p', query: 'b=1&a=2' }, body: '' },
      {
        scope: 'a:b\ud800',
        key: '🔑 é',
        request: { method: 'PATCH', path: '/x/é', query: '', contentType: 'application/json' },
        body: '{"b":1, "a":[1,2]}',
      },
      {
        scope: '',
        key: 'x'.repeat(255),
        request: { method: 'POST', path: '/', contentType: 'text/plain' },
        body: 'raw \u0000 bytes',
      },
    ];
    const context = webContext();
    vm.runInContext(code, context, { filename: 'edge-hash.js' });
    const web = JSON.parse(await vm.runInContext(`edge.main(${JSON.stringify(cases)})`, context));
    const { fingerprintRequest } = await import('../src/http.js');
    const { scopedKey } = await import('../src/store.js');
    const node: string[] = [];
    for (const c of cases) {
      node.push(await scopedKey(c.scope, c.key));
      node.push(await fingerprintRequest({ ...c.request, body: new TextEncoder().encode(c.body) }));
    }
    expect(web).toEqual(node);
  });

  it('runs the engine and the HTTP layer in a context with only Web globals', async () => {
    const code = await bundle(
      `
      import { createIdempotency } from './src/index.ts';
      import { transition, observe, toRecord, ABSENT } from './src/store.ts';
      import { createHttpIdempotency, captureBody } from './src/http.ts';
      import { replayCache } from './src/index.ts';

      // A tiny store on core's own lifecycle, as the memory store does it.
      function tinyStore() {
        const records = new Map();
        const apply = (key, event) => {
          const { next, result } = transition(records.get(key) ?? ABSENT, event);
          records.set(key, next);
          return result;
        };
        return {
          claim: async (key, r) => apply(key, { type: 'claim', now: Date.now(), ...r }),
          complete: async (key, token, response, ttlMs) =>
            apply(key, { type: 'complete', now: Date.now(), token, response, ttlMs }),
          release: async (key, token) => apply(key, { type: 'release', now: Date.now(), token }),
          renew: async (key, token, leaseMs) =>
            apply(key, { type: 'renew', now: Date.now(), token, leaseMs }),
          read: async (key) => toRecord(observe(records.get(key) ?? ABSENT, Date.now())),
        };
      }

      export async function main() {
        const globals = ['process', 'Buffer', 'require', 'global', 'module'].map((n) => typeof globalThis[n]);
        let runs = 0;
        const idem = createIdempotency({ store: tinyStore() });
        const op = async () => ({ charge: ++runs });
        const first = await idem.run('order-1', op, { scope: 'tenant', payload: { amount: 5 } });
        const second = await idem.run('order-1', op, { scope: 'tenant', payload: { amount: 5 } });
        // The replay cache, on Web APIs alone: the second run replays from memory.
        const withCache = createIdempotency({ store: tinyStore(), cache: replayCache() });
        const cached = [await withCache.run('c', op), await withCache.run('c', op)];

        const http = createHttpIdempotency({ store: tinyStore(), scope: () => 'tenant' });
        const body = new TextEncoder().encode('{"amount":5}');
        const request = {
          method: 'POST', path: '/pay', query: '',
          header: (name) => ({ 'idempotency-key': '"k-1"', 'content-type': 'application/json' })[name] ?? null,
          body: async () => body,
        };
        const d1 = await http.handle(request, {});
        const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('{"ok":true}')); c.close(); } });
        const captured = await captureBody(stream, http.maxResponseBytes);
        await d1.complete({ status: 201, headers: [['content-type', 'application/json']], body: captured.bytes });
        const d2 = await http.handle(request, {});
        return JSON.stringify({
          globals, first, second, runs, cached,
          http: [d1.kind, d2.kind, d2.replayed, d2.response.status,
            new TextDecoder().decode(d2.response.body), d2.response.headers],
        });
      }
      `,
      'iife',
    );
    // (Not scanned: the entry itself probes for `process` and friends.)
    const context = webContext();
    vm.runInContext(code, context, { filename: 'edge-bundle.js' });
    const out = JSON.parse(await vm.runInContext('edge.main()', context));
    expect(out).toEqual({
      globals: ['undefined', 'undefined', 'undefined', 'undefined', 'undefined'],
      first: { kind: 'executed', value: { charge: 1 } },
      second: { kind: 'replayed', value: { charge: 1 } },
      runs: 2,
      cached: [
        { kind: 'executed', value: { charge: 2 } },
        { kind: 'replayed', value: { charge: 2 } },
      ],
      http: [
        'execute',
        'respond',
        true,
        201,
        '{"ok":true}',
        [
          ['content-type', 'application/json'],
          ['idempotent-replayed', 'true'],
        ],
      ],
    });
  });
});
