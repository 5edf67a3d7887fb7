/**
 * The runtime parts of the suite's route contract, copied from
 * `@idem/conformance/http` because that module also imports vitest and
 * node:http, which cannot be bundled into a Worker. conformance.test.ts
 * checks that the copies still match the suite's.
 */
export type RouteName = 'echo' | 'bytes' | 'events' | 'empty' | 'throw';

/** The body `/events` writes, one `data:` event per write. */
export const EVENTS: readonly string[] = [
  'data: tick 0\n\n',
  'data: tick 1\n\n',
  'data: tick 2\n\n',
];

/** The deterministic body `/bytes?size=n` answers with: byte `i` is `(i * 31 + 7) & 0xff`. */
export function fixtureBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}
