import { ConfigurationError } from '../errors.js';
import { scopedKey } from '../scope.js';
import type { StoredRecord } from '../store/contract.js';
import { isNotStoredMarker } from './not-stored.js';
import type { ResolvedOptions } from './options.js';
import { forgetCached } from './replay-cache.js';

/**
 * Names one record: as a request named it, by its scope and key, or by its
 * store key, as hook events report it.
 */
export type RecordAddress =
  | {
      /** The scope: what `scope` returned for the request (`''` when it had none). */
      readonly scope: string;
      /** The idempotency key, as the client sent it (unquoted). */
      readonly key: string;
    }
  | {
      /** The store key, from a hook event (`event.storeKey`) or `inspect()`. */
      readonly storeKey: string;
    };

/** A record as an operator sees it. */
export type InspectedRecord =
  | {
      readonly storeKey: string;
      readonly state: 'in_progress';
      readonly fingerprint: string;
      /** When its lease runs out unless its owner renews it, as an ISO date. */
      readonly leaseExpiresAt: string;
    }
  | {
      readonly storeKey: string;
      readonly state: 'completed';
      readonly fingerprint: string;
      /** When it expires and the key is free again, as an ISO date. */
      readonly expiresAt: string;
      /** The status replayed (or, when `stored` is false, the status of the run that was not stored). */
      readonly status: number;
      /** Whether its result is replayed (`false`: "ran, not stored", a retry gets 410). */
      readonly stored: boolean;
      readonly headers: ReadonlyArray<readonly [string, string]>;
      readonly bodyBytes: number;
    };

/** Options of {@link Operators.remove}. */
export type RemoveOptions = RecordAddress & {
  /**
   * Delete a completed record too. Its result is then forgotten: the next
   * request with the key runs the operation again.
   * @default false
   */
  readonly force?: boolean;
};

/** Calls for operators: find a stuck or wrong record, and free its key. */
export interface Operators {
  /**
   * The live record of a (scope, key), or `undefined`. `storeKey` is what
   * hook events and the store name it by.
   */
  inspect(address: RecordAddress): Promise<InspectedRecord | undefined>;
  /**
   * Delete the record of a (scope, key), whatever its owner: the next request
   * with the key runs the operation. Refuses (`ConfigurationError`) a
   * completed record unless `force`, since retries get its result. Removing
   * a record in progress whose handler is still running lets a retry run
   * alongside it: use it for a handler that is stuck. Resolves to what was
   * deleted, or `undefined` when there was no live record.
   *
   * With the `cache` option, every engine of this process on the same store
   * object stops replaying the record at once (`inspect` has the same
   * effect); other processes replay it for at most their `cache.maxAgeMs`.
   */
  remove(options: RemoveOptions): Promise<InspectedRecord | undefined>;
}

function inspected(storeKey: string, record: StoredRecord): InspectedRecord {
  if (record.state === 'in_progress') {
    return {
      storeKey,
      state: 'in_progress',
      fingerprint: record.fingerprint,
      leaseExpiresAt: new Date(record.leaseExpiresAt).toISOString(),
    };
  }
  const { response } = record;
  const stored = !isNotStoredMarker(response);
  return {
    storeKey,
    state: 'completed',
    fingerprint: record.fingerprint,
    expiresAt: new Date(record.expiresAt).toISOString(),
    status: response.status,
    stored,
    headers: stored ? response.headers : [],
    bodyBytes: response.body.byteLength,
  };
}

/** The operator calls on an engine's store. */
export function operators(
  options: ResolvedOptions,
  forget: (storeKey: string) => void = () => {},
): Operators {
  const { store } = options;

  async function storeKeyOf(input: RecordAddress): Promise<string> {
    if (
      input &&
      'storeKey' in input &&
      typeof input.storeKey === 'string' &&
      input.storeKey !== ''
    ) {
      return input.storeKey;
    }
    if (
      input &&
      'scope' in input &&
      typeof input.scope === 'string' &&
      typeof input.key === 'string' &&
      input.key !== ''
    ) {
      return scopedKey(input.scope, input.key);
    }
    throw new ConfigurationError(
      "idem: name the record by its scope and key, as the request had them ({ scope: 'tenant-42', key: '…' }, scope '' when there was none), or by the storeKey of its hook events.",
    );
  }

  async function inspect(input: RecordAddress): Promise<InspectedRecord | undefined> {
    const storeKey = await storeKeyOf(input);
    const record = await store.read(storeKey);
    // What an operator looks at is what every engine of this process on
    // this store replays next: the store's record, not a cached copy.
    forgetCached(store, storeKey);
    return record && inspected(storeKey, record);
  }

  return {
    inspect,
    async remove(input) {
      const remove = store.remove?.bind(store);
      if (!remove) {
        throw new ConfigurationError(
          'idem: this store cannot delete records for operators (it has no remove()). Wait for the lease or TTL to run out, or upgrade the store.',
        );
      }
      const record = await inspect(input);
      if (record === undefined) return undefined;
      if (record.state === 'completed' && input.force !== true) {
        throw new ConfigurationError(
          `idem: the record is completed (status ${record.status}), so retries get its result. Pass force: true to delete it anyway; the next request with the key then runs the operation again.`,
        );
      }
      await remove(record.storeKey);
      forgetCached(store, record.storeKey);
      // Duplicates of this engine stop deferring to an execution still running here.
      forget(record.storeKey);
      return record;
    },
  };
}
