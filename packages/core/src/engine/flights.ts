import type { StoredRecord, StoredResponse } from '../store/contract.js';

/**
 * What one request of this process learned about a store key, shared with
 * the duplicates of it that arrived meanwhile in the same process.
 * - `record`: the store's answer to its claim (a completed record, or one in
 *   progress elsewhere).
 * - `running`: it claimed the key and its operation runs here.
 * - `unknown`: it ended without an answer to share (the store failed); each
 *   duplicate asks the store itself.
 */
export type Sighting =
  | { readonly kind: 'record'; readonly record: StoredRecord }
  | { readonly kind: 'running'; readonly run: Running }
  | { readonly kind: 'unknown' };

/** An operation running in this process under a claim. */
export interface Running {
  /** Resolves with the stored response once completed and kept; with `undefined` otherwise. */
  readonly settled: Promise<StoredResponse | undefined>;
  /** Whether its lease still holds (renewed, not reported lost). */
  live(): boolean;
  /** When its lease runs out unless renewed (epoch ms, this process's view). */
  leaseExpiresAt(): number;
}

/**
 * One key's single flight: the request that asks the store (the leader) and
 * what it saw. Duplicates with the same fingerprint await `next` instead of
 * each calling the store: one claim and one wait per key per process.
 */
export class Flight {
  readonly fingerprint: string;
  /** The leader's next sighting; replaced when it will look again (polling). */
  next: Promise<Sighting>;
  #resolve: (seen: Sighting) => void = () => {};
  #open = true;

  constructor(fingerprint: string) {
    this.fingerprint = fingerprint;
    this.next = this.#arm();
  }

  #arm(): Promise<Sighting> {
    return new Promise<Sighting>((resolve) => {
      this.#resolve = resolve;
    });
  }

  /**
   * Tell the duplicates what was seen. With `again`, the leader looks again
   * later and `next` becomes that look: duplicates that act on `seen` and
   * want more await it.
   */
  publish(seen: Sighting, again = false): void {
    if (!this.#open) return;
    const resolve = this.#resolve;
    if (again) this.next = this.#arm();
    else this.#open = false;
    resolve(seen);
  }
}

/** The flights of one engine, by store key: an entry lives while a claim or an operation is under way. */
export class Flights {
  readonly #byKey = new Map<string, Flight>();

  /** The flight a duplicate with `fingerprint` can join, if any (not `own`, the caller's own). */
  joinable(storeKey: string, fingerprint: string, own: Flight | undefined): Flight | undefined {
    const flight = this.#byKey.get(storeKey);
    return flight !== undefined && flight !== own && flight.fingerprint === fingerprint
      ? flight
      : undefined;
  }

  /** Lead the key's flight if nobody does. */
  lead(storeKey: string, fingerprint: string): Flight | undefined {
    if (this.#byKey.has(storeKey)) return undefined;
    const flight = new Flight(fingerprint);
    this.#byKey.set(storeKey, flight);
    return flight;
  }

  /** Drop the key's flight (an operator removed its record): new duplicates ask the store. */
  forget(storeKey: string): void {
    const flight = this.#byKey.get(storeKey);
    if (flight !== undefined) this.end(storeKey, flight);
  }

  /** The flight is over: duplicates still waiting learn nothing more, and new ones ask the store. */
  end(storeKey: string, flight: Flight): void {
    flight.publish({ kind: 'unknown' });
    if (this.#byKey.get(storeKey) === flight) this.#byKey.delete(storeKey);
  }
}
