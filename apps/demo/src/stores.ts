import type { Claim, Store } from '@idem/core';
import { memoryStore } from '@idem/store-memory';

/** The stores the demo can run on, chosen with IDEM_STORE. */
export const STORE_KINDS = ['memory', 'redis', 'postgres', 'mysql', 'dynamodb'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export interface DemoStore {
  readonly store: Store;
  readonly label: string;
  /**
   * Extra work the payments handler does with each charge (Postgres and MySQL
   * write the payment row in the transaction of the request's idempotency record).
   */
  readonly onCharged?: (
    payment: { reference: string; chargeId: string; amount: number },
    context: Claim | undefined,
  ) => Promise<void>;
  /** A line about the store's own state after the run (e.g. payment rows written). */
  readonly report?: () => Promise<string>;
  close(): Promise<void>;
}

export function storeKind(value: string | undefined): StoreKind {
  const kind = (value ?? 'memory').toLowerCase();
  if (!(STORE_KINDS as readonly string[]).includes(kind)) {
    throw new Error(
      `IDEM_STORE=${value} is not a store the demo knows; use one of ${STORE_KINDS.join(', ')}.`,
    );
  }
  return kind as StoreKind;
}

/** Build the store for `kind`. Network stores are imported only when chosen. */
export async function openStore(kind: StoreKind): Promise<DemoStore> {
  switch (kind) {
    case 'memory':
      return { store: memoryStore(), label: 'memory store', close: async () => {} };
    default: {
      const mod = (await import(`./stores/${kind}.ts`)) as { open(): Promise<DemoStore> };
      return mod.open();
    }
  }
}
