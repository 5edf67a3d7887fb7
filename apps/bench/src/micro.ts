/**
 * Micro-benchmarks, each in a process of its own:
 *
 * - `fingerprint`: `fingerprintRequest` (canonical JSON + SHA-256) on JSON
 *   bodies of 100 B, 10 KB and 1 MB, against `JSON.stringify(JSON.parse(body))`
 *   + SHA-256.
 * - `memory` (needs --expose-gc): bytes per completed record in the memory
 *   store, the process's peak RSS holding 1,000,000 of them and the time
 *   spent in GC filling it; then what a fresh key (claim + complete) and a
 *   replay (a claim refused with the completed record) allocate.
 *
 * `node --expose-gc [--no-concurrent-recompilation] dist/micro.js '<config>'
 * fingerprint|memory quick|full`; prints one BENCH_JSON line.
 */
import { createHash, randomUUID } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { fingerprintRequest } from '@idem/core/http';
import type { ClaimRequest } from '@idem/core/store';
import { memoryStore } from '@idem/store-memory';
import type { FingerprintRow, MemoryResult } from './results.js';
import { median } from './stats.js';

const mode = process.argv[3];
const quick = process.argv[4] === 'quick';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A JSON document of about `bytes` bytes, shaped like an order: nested objects, arrays, numbers, escapes, non-ASCII. */
export function jsonBody(bytes: number): Uint8Array {
  const head = { amount: 1999, currency: 'eur', customer: 'cus_8Hq2LzXk', capture: true };
  if (bytes <= 200) {
    const doc = { ...head, description: '' };
    const base = JSON.stringify(doc).length;
    doc.description = 'Order for Ada Lovelace, 1 item'.padEnd(Math.max(0, bytes - base), '.');
    return encoder.encode(JSON.stringify(doc));
  }
  const items: unknown[] = [];
  const doc = { ...head, description: 'Order with "items" – ünïcode', items };
  let size = JSON.stringify(doc).length;
  for (let i = 0; size < bytes; i++) {
    const item = {
      sku: `SKU-${String(i).padStart(6, '0')}`,
      name: `Widget ${i} – blue\tedition`,
      qty: (i % 7) + 1,
      price: 12.5 + (i % 100) / 4,
      tags: ['hardware', i % 2 ? 'sale' : 'new'],
      meta: { color: 'blue', size: null, weightKg: 0.25 * (i % 9) },
    };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  return encoder.encode(JSON.stringify(doc));
}

async function opsPerSecond(fn: () => unknown, ms: number): Promise<number> {
  let ops = 0;
  let batch = 1;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) await fn();
    ops += batch;
    elapsed = performance.now() - t0;
    if (elapsed < ms / 20) batch *= 2;
  }
  return ops / (elapsed / 1000);
}

async function fingerprint(): Promise<FingerprintRow[]> {
  const sizes = [
    { label: '100 B', bytes: 100 },
    { label: '10 KB', bytes: 10_000 },
    { label: '1 MB', bytes: 1_000_000 },
  ];
  const rounds = quick ? 1 : 5;
  const ms = quick ? 40 : 300;
  const rows: FingerprintRow[] = [];
  for (const { label, bytes } of sizes) {
    const body = jsonBody(bytes);
    const input = { method: 'POST', path: '/payments', body, contentType: 'application/json' };
    const ours = () => fingerprintRequest(input);
    const baseline = () =>
      createHash('sha256')
        .update(JSON.stringify(JSON.parse(decoder.decode(body))))
        .digest('hex');
    // Warm both, then alternate rounds so drift hits both alike.
    await opsPerSecond(ours, ms / 2);
    await opsPerSecond(baseline, ms / 2);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < rounds; r++) {
      a.push(await opsPerSecond(ours, ms));
      b.push(await opsPerSecond(baseline, ms));
    }
    const fingerprintOpsPerSec = median(a);
    const baselineOpsPerSec = median(b);
    rows.push({
      label,
      bytes: body.byteLength,
      fingerprintOpsPerSec,
      baselineOpsPerSec,
      ratio: fingerprintOpsPerSec / baselineOpsPerSec,
    });
  }
  return rows;
}

const TTL_MS = 86_400_000;
const headers = [['content-type', 'application/json']] as const;

/** What the engine hands the store for key `i`: a hashed store key, a SHA-256 fingerprint, a UUID token, a small JSON body. */
function call(i: number) {
  const key = `idem1:${createHash('sha256').update(`key-${i}`).digest('base64url')}`;
  const fingerprint = createHash('sha256').update(`fp-${i}`).digest('hex');
  const token = randomUUID();
  const body = encoder.encode(
    `{"id":"pay_${i}","amount":1999,"currency":"eur","status":"succeeded"}`,
  );
  return {
    key,
    claim: { fingerprint, token, leaseMs: 30_000 },
    response: { status: 201, headers, body },
  };
}

type Store = ReturnType<typeof memoryStore>;

async function fresh(store: Store, c: ReturnType<typeof call>): Promise<void> {
  const claim = await store.claim(c.key, c.claim);
  if (!claim.claimed) throw new Error(`claim of ${c.key} refused`);
  const done = await store.complete(c.key, c.claim.token, c.response, TTL_MS);
  if (done !== 'ok') throw new Error(`complete of ${c.key}: ${done}`);
}

/** Heap bytes allocated per item of a batch: the median over batches, so a batch a scavenge ran in does not count. */
function perItem(growths: number[], batch: number): number {
  return median(growths) / batch;
}

/** Heap growth over fresh keys' claims and completions; small functions, so that they get optimised as the engine's callers would be. */
async function freshBatch(store: Store, calls: ReturnType<typeof call>[]): Promise<number> {
  const start = process.memoryUsage().heapUsed;
  for (const { key, claim, response } of calls) {
    await store.claim(key, claim);
    await store.complete(key, claim.token, response, TTL_MS);
  }
  return process.memoryUsage().heapUsed - start;
}

/** Heap growth over replays: claims refused with the completed record. */
async function replayBatch(
  store: Store,
  replays: { key: string; claim: ClaimRequest }[],
): Promise<number> {
  const start = process.memoryUsage().heapUsed;
  for (const { key, claim } of replays) await store.claim(key, claim);
  return process.memoryUsage().heapUsed - start;
}

async function memory(): Promise<MemoryResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const collect = () => {
    gc();
    gc();
  };
  const maxRecords = 1_000_000;
  const records = quick ? 20_000 : maxRecords;
  let gcMs = 0;
  const pauses = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  collect();
  const baselineRssBytes = process.memoryUsage().rss;
  const before = process.memoryUsage();
  const store = memoryStore({ maxRecords });
  let bodyBytes = 0;
  pauses.observe({ entryTypes: ['gc'] });
  const t0 = performance.now();
  for (let i = 0; i < records; i++) {
    const c = call(i);
    bodyBytes += c.response.body.byteLength;
    await fresh(store, c);
  }
  const fillSeconds = (performance.now() - t0) / 1000;
  // GC entries arrive on a later turn of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 100));
  pauses.disconnect();
  collect();
  const after = process.memoryUsage();
  if (store.size !== records) throw new Error(`store holds ${store.size} records, not ${records}`);
  const heap = after.heapUsed - before.heapUsed;
  const external = after.external - before.external;
  store.clear();
  collect();

  // Fresh keys and replays, on a store of their own; the inputs of each batch
  // are made before it, and the loops call the store and nothing else. The
  // first half of the rounds only warms up: optimised code allocates less.
  const small = memoryStore({ maxRecords });
  const batch = 100;
  const rounds = quick ? 50 : 300;
  const calls = (r: number) =>
    Array.from({ length: batch }, (_, i) => call(records + r * batch + i));
  const freshGrowths: number[] = [];
  for (let r = 0; r < 2 * rounds; r++) {
    const growth = await freshBatch(small, calls(r));
    if (r >= rounds) freshGrowths.push(growth);
  }
  // Claims of the keys completed in the first round, with other tokens.
  const replays = calls(0).map((c) => ({ key: c.key, claim: { ...c.claim, token: randomUUID() } }));
  const replayGrowths: number[] = [];
  for (let r = 0; r < 2 * rounds; r++) {
    const growth = await replayBatch(small, replays);
    if (r >= rounds) replayGrowths.push(growth);
  }
  const replay = await small.claim(replays[0]!.key, replays[0]!.claim);
  if (replay.claimed || small.size !== 2 * rounds * batch) {
    throw new Error('fresh keys did not complete');
  }
  return {
    records,
    maxRecords,
    bytesPerRecord: (heap + external) / records,
    heapBytesPerRecord: heap / records,
    externalBytesPerRecord: external / records,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    baselineRssBytes,
    fillSeconds,
    fillGcSeconds: gcMs / 1000,
    bodyBytes: bodyBytes / records,
    freshAllocatedBytes: perItem(freshGrowths, batch),
    replayAllocatedBytes: perItem(replayGrowths, batch),
  };
}

const result = mode === 'memory' ? await memory() : await fingerprint();
process.stdout.write(`BENCH_JSON ${JSON.stringify(result)}\n`);
