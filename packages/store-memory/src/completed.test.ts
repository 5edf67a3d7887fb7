import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Completed, Heads, Slabs } from './completed.js';

const heads = new Heads();
const head = heads.intern(200, []);
const bytes = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (seed + i) & 255);

describe('Slabs', () => {
  it('keeps bodies byte-exact, shares slabs between small ones and hands out copies of their own', () => {
    const slabs = new Slabs(1024);
    const a = slabs.keep('fp', 1, head, bytes(10, 1));
    const b = slabs.keep('fp', 1, head, bytes(20, 2));
    const large = slabs.keep('fp', 1, head, bytes(100, 3));
    expect(a.slab).toBe(b.slab);
    expect(large.slab).not.toBe(a.slab);
    const body = a.response.body;
    expect([...body]).toEqual([...bytes(10, 1)]);
    // Its own buffer: nothing of another record is reachable through it.
    expect(body.byteOffset).toBe(0);
    expect(body.buffer.byteLength).toBe(10);
    body.fill(0);
    expect([...a.response.body]).toEqual([...bytes(10, 1)]);
    expect([...b.response.body]).toEqual([...bytes(20, 2)]);
    expect([...large.response.body]).toEqual([...bytes(100, 3)]);
    expect(slabs.keep('fp', 1, head, new Uint8Array(0)).response.body.byteLength).toBe(0);
  });

  it('does not ask for compaction when records go in the order they came', () => {
    const slabs = new Slabs(1024);
    const kept: Completed[] = [];
    for (let i = 0; i < 5_000; i++) {
      kept.push(slabs.keep('fp', i, head, bytes(1 + (i % 60), i)));
      if (kept.length > 100) slabs.forget(kept.shift()!);
      expect(slabs.fragmented).toBe(false);
    }
  });

  it('asks for compaction when most of the slabs is garbage, and moving the survivors ends it', () => {
    const slabs = new Slabs(1024);
    const kept = Array.from({ length: 1_000 }, (_, i) => slabs.keep('fp', i, head, bytes(50, i)));
    kept.forEach((record, i) => {
      if (i % 4 !== 0) slabs.forget(record);
    });
    expect(slabs.fragmented).toBe(true);
    const survivors = kept.filter((_, i) => i % 4 === 0);
    const before = survivors.map((r) => r.slab);
    for (const record of survivors) slabs.move(record);
    expect(slabs.fragmented).toBe(false);
    expect(survivors.filter((r, i) => r.slab !== before[i]).length).toBeGreaterThan(200);
    survivors.forEach((record, j) => {
      expect([...record.response.body]).toEqual([...bytes(50, 4 * j)]);
    });
  });

  it('stops counting a slab once nothing is kept in it, even the one being filled', () => {
    const slabs = new Slabs(16 * 1024);
    const first = Array.from({ length: 16 }, (_, i) => slabs.keep('fp', 0, head, bytes(1_000, i)));
    for (const record of first) slabs.forget(record);
    // The first slab is full and empty: the next body opens a second, and only that one counts.
    slabs.keep('fp', 0, head, bytes(1_000, 0));
    expect(slabs.heldBytes).toBe(16 * 1024);
  });

  it('keeps every live body intact, and counts what it holds, through keeps, forgets and compactions', () => {
    // Each step keeps a body that lives for a few steps, or (one in eight) for good.
    const life = fc.oneof({ arbitrary: fc.nat(4), weight: 7 }, fc.constant(Infinity));
    const step = fc.record({ body: fc.uint8Array({ maxLength: 8 }), life });
    const same = (a: Uint8Array, b: Uint8Array) =>
      a.length === b.length && a.every((x, i) => x === b[i]);
    let compactions = 0;
    fc.assert(
      // Plain checks, not expect(): a failure shrinks through many runs.
      fc.property(fc.array(step, { minLength: 100, maxLength: 300 }), (steps) => {
        const slabs = new Slabs(128);
        let live: Array<{ record: Completed; body: Uint8Array; until: number }> = [];
        steps.forEach(({ body, life }, i) => {
          live.push({ record: slabs.keep('fp', 0, head, body), body, until: i + life });
          for (const gone of live.filter(({ until }) => until <= i)) slabs.forget(gone.record);
          live = live.filter(({ until }) => until > i);
          if (slabs.fragmented) {
            compactions++;
            for (const { record } of live) slabs.move(record);
            if (slabs.fragmented) throw new Error(`still fragmented after compaction, step ${i}`);
          }
          // What it holds: the slabs live records point into, and at most the current one.
          let pointedTo = 0;
          for (const slab of new Set(live.map(({ record }) => record.slab))) {
            pointedTo += slab.bytes.length;
          }
          if (slabs.heldBytes < pointedTo || slabs.heldBytes > pointedTo + 128) {
            throw new Error(`holds ${slabs.heldBytes} bytes, slabs in use ${pointedTo}, step ${i}`);
          }
        });
        return live.every(({ record, body }) => same(record.response.body, body));
      }),
    );
    expect(compactions).toBeGreaterThan(0);
  });
});

describe('Heads', () => {
  it('shares one frozen head between equal statuses and headers, and copies what it keeps', () => {
    const h = new Heads();
    const headers: Array<[string, string]> = [['content-type', 'application/json']];
    const first = h.intern(201, headers);
    expect(h.intern(201, [['content-type', 'application/json']])).toBe(first);
    expect(h.intern(200, headers)).not.toBe(first);
    expect(h.intern(201, [['content-type', 'text/plain']])).not.toBe(first);
    headers[0]![1] = 'changed';
    expect(first.headers).toEqual([['content-type', 'application/json']]);
    expect(Object.isFrozen(first.headers) && Object.isFrozen(first.headers[0])).toBe(true);
  });

  it('returns a head equal to what it was given, whatever it was given before', () => {
    const name = fc.constantFrom('a', 'b', 'set-cookie');
    const headers = fc.array(fc.tuple(name, fc.constantFrom('1', '2', '')), { maxLength: 3 });
    const status = fc.constantFrom(200, 201, 404);
    fc.assert(
      fc.property(fc.array(fc.tuple(status, headers), { maxLength: 30 }), (calls) => {
        const h = new Heads();
        for (const [s, hs] of calls) expect(h.intern(s, hs)).toEqual({ status: s, headers: hs });
      }),
    );
  });
});
