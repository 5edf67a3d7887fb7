import { bundle } from '@idem/test-workerd';
import { Miniflare } from 'miniflare';
import type { DurableObjectNamespaceLike } from '../src/index.js';

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
export async function startObjects(
  options: { sqlite?: boolean; outsideWorkerd?: boolean } = {},
): Promise<Objects> {
  const useSQLite = options.sqlite ?? true;
  // ./outside-worker.ts exports only the object class of the package's other entry.
  const others = options.outsideWorkerd
    ? { INSPECTED: 'IdempotencyObject', OTHER: 'IdempotencyObject' }
    : { INSPECTED: 'InspectedObject', OTHER: 'SomeOtherObject' };
  const mf = new Miniflare({
    modules: true,
    script: await bundle(
      new URL(options.outsideWorkerd ? './outside-worker.ts' : './worker.ts', import.meta.url),
    ),
    compatibilityDate: '2025-09-01',
    durableObjects: {
      IDEMPOTENCY: { className: 'IdempotencyObject', useSQLite },
      INSPECTED: { className: others.INSPECTED, useSQLite },
      OTHER: { className: others.OTHER, useSQLite },
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
