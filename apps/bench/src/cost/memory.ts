/**
 * The memory store for the cost tool: app CPU only; the floor keeps the same
 * record shape in a Map (set to claim, set to complete, get to replay).
 */
import { memoryStore } from '@idem/store-memory';
import { FINGERPRINT, idemWay, RESPONSE, token, type Way } from './run.ts';

/** A record as the floor keeps it: what idem's memory store keeps, by hand. */
type FloorRecord =
  | { state: 'in_progress'; fingerprint: string; token: string; leaseExpiresAt: number }
  | {
      state: 'completed';
      fingerprint: string;
      expiresAt: number;
      response: typeof RESPONSE;
    };

/** The two ways on the memory store and on a Map. */
export function openMemory(): { floor: Way; idem: Way } {
  const map = new Map<string, FloorRecord>();
  const floor: Way = {
    first: [
      async (key) => {
        if (!map.has(key)) {
          map.set(key, {
            state: 'in_progress',
            fingerprint: FINGERPRINT,
            token: token(),
            leaseExpiresAt: Date.now() + 30_000,
          });
        }
      },
      async (key) => {
        map.set(key, {
          state: 'completed',
          fingerprint: FINGERPRINT,
          expiresAt: Date.now() + 3_600_000,
          response: RESPONSE,
        });
      },
    ],
    replay: [
      async (key) => {
        if (map.get(key)?.state !== 'completed')
          throw new Error(`${key}: floor record not completed`);
      },
    ],
  };
  return { floor, idem: idemWay(memoryStore()) };
}
