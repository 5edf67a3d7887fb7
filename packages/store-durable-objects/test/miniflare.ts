import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import type { DurableObjectNamespaceLike } from '../src/index.js';

/** test/worker.ts bundled as wrangler would (the workerd export condition). */
export async function bundleTestWorker(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['@idem/source', 'workerd', 'worker', 'browser'],
    external: ['cloudflare:workers'],
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Stubs of the inspectable subclass (see ./worker.ts). */
export interface InspectedStub {
  keys(): Promise<string[]>;
  alarmAt(): Promise<number | null>;
}

/** A running workerd with the test Worker, and its namespaces as Node-side proxies. */
export interface Objects {
  readonly mf: Miniflare;
  /** `IDEMPOTENCY`: the package's class. */
  readonly namespace: DurableObjectNamespaceLike;
  /** `INSPECTED`: the inspectable subclass. */
  readonly inspected: DurableObjectNamespaceLike;
  /** `OTHER`: a class that is not the store's. */
  readonly other: DurableObjectNamespaceLike;
  /** The inspectable object of `key`. */
  inspect(key: string): InspectedStub;
  dispose(): Promise<void>;
}

/**
 * workerd (through miniflare) running the object class, driven from Node
 * through miniflare's binding proxies: every call goes into workerd, to the
 * key's object.
 */
export async function startObjects(options: { sqlite?: boolean } = {}): Promise<Objects> {
  const useSQLite = options.sqlite ?? true;
  const mf = new Miniflare({
    modules: true,
    script: await bundleTestWorker(),
    compatibilityDate: '2025-09-01',
    durableObjects: {
      IDEMPOTENCY: { className: 'IdempotencyObject', useSQLite },
      INSPECTED: { className: 'InspectedObject', useSQLite },
      OTHER: { className: 'SomeOtherObject', useSQLite },
    },
  });
  const namespace = (await mf.getDurableObjectNamespace(
    'IDEMPOTENCY',
  )) as unknown as DurableObjectNamespaceLike;
  const inspected = (await mf.getDurableObjectNamespace(
    'INSPECTED',
  )) as unknown as DurableObjectNamespaceLike;
  const other = (await mf.getDurableObjectNamespace(
    'OTHER',
  )) as unknown as DurableObjectNamespaceLike;
  const inspect = (key: string) => inspected.get(inspected.idFromName(key)) as InspectedStub;
  return { mf, namespace, inspected, other, inspect, dispose: () => mf.dispose() };
}
