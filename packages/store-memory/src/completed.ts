import type { StoredResponse } from '@idem/core/store';

/**
 * How the memory store keeps completed records compactly. A record as plain
 * objects (record, response, headers arrays, a `Uint8Array` and its own
 * `ArrayBuffer` per body) cost about 730 bytes for a 70-byte body; most of it
 * was fixed overhead per object, and an `ArrayBuffer` alone costs some 200
 * bytes of heap and native memory. Here a completed record is one small object;
 * its body lives in a slab shared with other bodies, and its status and
 * headers in a frozen head shared with the records before it that had the
 * same ones.
 *
 * @packageDocumentation
 */

/** A status and its header lines, deeply frozen so they can be handed out without copying. */
export interface Head {
  readonly status: number;
  readonly headers: StoredResponse['headers'];
}

/** Bytes shared by the bodies of many records, or the buffer of one large body. */
export interface Slab {
  readonly bytes: Uint8Array;
  /** Bytes handed out so far; the free space starts here. */
  used: number;
  /** Bytes that still belong to a kept record; the rest of `used` is garbage. */
  live: number;
}

/**
 * A completed record as the store keeps it. It has the shape of core's
 * completed `RecordState`, so the lifecycle functions run on it unchanged,
 * but `state` is a getter on the prototype and `response` is built on each
 * read, with a fresh copy of the body: a caller that changes a replayed body
 * never changes the next replay.
 */
export class Completed {
  readonly fingerprint: string;
  readonly expiresAt: number;
  readonly head: Head;
  /** Where the body is; the store's compaction moves it. */
  slab: Slab;
  offset: number;
  readonly length: number;

  constructor(
    fingerprint: string,
    expiresAt: number,
    head: Head,
    slab: Slab,
    offset: number,
    length: number,
  ) {
    this.fingerprint = fingerprint;
    this.expiresAt = expiresAt;
    this.head = head;
    this.slab = slab;
    this.offset = offset;
    this.length = length;
  }

  /** Always `completed`: a getter, so it costs the record no field. */
  get state(): 'completed' {
    return 'completed';
  }

  /** The response, with a copy of the body that is the caller's alone. */
  get response(): StoredResponse {
    const { head, slab, offset } = this;
    return {
      status: head.status,
      headers: head.headers,
      body: slab.bytes.slice(offset, offset + this.length),
    };
  }
}

function sameHeaders(a: Head['headers'], b: StoredResponse['headers']): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  return true;
}

/** How many recent heads {@link Heads.intern} compares against: a few routes' worth. */
const RECENT = 4;

/**
 * Interns heads: a response whose status and headers equal one of the last
 * few kept gets that frozen head, so a million replies that all say
 * `201` + `content-type: application/json` share one, and storing one costs
 * a few string comparisons instead of three arrays.
 */
export class Heads {
  private readonly recent: Head[] = [];
  private next = 0;

  /** The frozen head for `status` and `headers`: a recent one if equal, else a new copy. */
  intern(status: number, headers: StoredResponse['headers']): Head {
    for (const head of this.recent) {
      if (head.status === status && sameHeaders(head.headers, headers)) return head;
    }
    // A copy, so what the caller holds can change nothing here.
    const head: Head = Object.freeze({
      status,
      headers: Object.freeze(headers.map(([n, v]) => Object.freeze([n, v] as const))),
    });
    this.recent[this.next] = head;
    this.next = (this.next + 1) % RECENT;
    return head;
  }

  /** Forget the recent heads. */
  clear(): void {
    this.recent.length = 0;
    this.next = 0;
  }
}

/** Slab size: one `ArrayBuffer` per this many bytes of small bodies, instead of one per body. */
const SLAB_BYTES = 64 * 1024;
/** Records with an empty body point here. */
const EMPTY: Slab = { bytes: new Uint8Array(0), used: 0, live: 0 };

/**
 * The slabs bodies are copied into. A slab is freed by the garbage collector
 * once no record points into it; records usually expire in the order they
 * were kept, so whole slabs go at once. When records with mixed lifetimes
 * leave slabs mostly garbage, {@link Slabs.fragmented} asks the store to
 * move the survivors ({@link Slabs.move}) into fresh slabs.
 */
export class Slabs {
  private readonly slabBytes: number;
  /** Larger bodies get a buffer of their own, where its fixed cost is small beside them. */
  private readonly large: number;
  /** Below this much garbage, compaction would not pay for its walk. */
  private readonly slack: number;
  private current: Slab = EMPTY;
  /** Bytes of the slabs that still hold a kept body (and the current one). */
  private held = 0;
  /** Bytes of kept bodies. */
  private live = 0;

  /** `slabBytes` is for tests, to reach compaction with a few records. */
  constructor(slabBytes: number = SLAB_BYTES) {
    this.slabBytes = slabBytes;
    this.large = slabBytes / 16;
    this.slack = 4 * slabBytes;
  }

  /** A completed record with a copy of `body`. */
  keep(fingerprint: string, expiresAt: number, head: Head, body: Uint8Array): Completed {
    const n = body.byteLength;
    const slab = this.room(n);
    const offset = slab.used;
    slab.bytes.set(body, offset);
    this.take(slab, n);
    return new Completed(fingerprint, expiresAt, head, slab, offset, n);
  }

  /** The record is no longer kept: its bytes are garbage. */
  forget(record: Completed): void {
    const { slab, length } = record;
    slab.live -= length;
    this.live -= length;
    if (slab.live === 0 && slab !== this.current) this.held -= slab.bytes.length;
  }

  /** Bytes of the slabs that still hold a kept body, and of the current one. */
  get heldBytes(): number {
    return this.held;
  }

  /** True when slabs hold more garbage than live bytes: time to move the survivors. */
  get fragmented(): boolean {
    return this.held > 2 * this.live + this.slack;
  }

  /** Move a record's body out of a slab with garbage into the current one. */
  move(record: Completed): void {
    const from = record.slab;
    if (from === this.current || from.live === from.bytes.length) return;
    const n = record.length;
    const to = this.room(n);
    to.bytes.set(from.bytes.subarray(record.offset, record.offset + n), to.used);
    this.forget(record);
    record.slab = to;
    record.offset = to.used;
    this.take(to, n);
  }

  /** Forget every slab, when the store forgets every record. */
  clear(): void {
    this.current = EMPTY;
    this.held = 0;
    this.live = 0;
  }

  private take(slab: Slab, n: number): void {
    slab.used += n;
    slab.live += n;
    this.live += n;
  }

  private room(n: number): Slab {
    if (n === 0) return EMPTY;
    if (n > this.large) return this.open(n);
    const current = this.current;
    if (current.used + n > current.bytes.length) {
      if (current.live === 0) this.held -= current.bytes.length;
      this.current = this.open(this.slabBytes);
    }
    return this.current;
  }

  private open(size: number): Slab {
    this.held += size;
    return { bytes: new Uint8Array(size), used: 0, live: 0 };
  }
}
