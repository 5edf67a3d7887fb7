import { isIdempotencyError } from '@idem/core';
import { cpuPressure } from '@idem/test-pressure';
import { reachableStores } from '@idem/test-stores';
import { afterAll, describe, expect, it } from 'vitest';
import { makeIdempotent } from '../src/index.js';
import { invocationContext } from './http/gateway.js';

// Redis (CI=true: it must answer), beside busy cores and a stalling event loop.
const stores = await reachableStores({ label: 'lambda makeIdempotent storm', only: ['redis'] });
afterAll(() => stores.close());

describe('a duplicate storm on makeIdempotent', () => {
  for (const [name, create] of Object.entries(stores.stores)) {
    it(`runs each key's side effect once across engines on ${name}, under CPU pressure`, async () => {
      const store = await create();
      const effects = new Map<string, number>();
      const run = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      // Four engines on one store: four warm Lambda instances receiving the same deliveries.
      const instances = Array.from({ length: 4 }, () =>
        makeIdempotent(
          async (event: { id: string }, _context: unknown) => {
            effects.set(event.id, (effects.get(event.id) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
            return `done ${event.id}`;
          },
          { store, key: '/id', scope: `storm-${run}` },
        ),
      );
      const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
      const deliver = async (id: string, copy: number): Promise<string> => {
        const fn = instances[copy % instances.length]!;
        for (let attempt = 0; ; attempt++) {
          try {
            return await fn({ id }, invocationContext(10_000));
          } catch (error) {
            // A copy that finds the first in flight is redelivered later, as Lambda retries it.
            if (!isIdempotencyError(error, 'REQUEST_IN_FLIGHT') || attempt > 200) throw error;
            await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
          }
        }
      };
      const pressure = cpuPressure();
      try {
        const answers = await Promise.all(
          keys.flatMap((id) => Array.from({ length: 10 }, (_, copy) => deliver(id, copy))),
        );
        expect(new Set(answers)).toEqual(new Set(keys.map((id) => `done ${id}`)));
      } finally {
        await pressure.stop();
      }
      expect(Object.fromEntries(effects)).toEqual(Object.fromEntries(keys.map((k) => [k, 1])));
    }, 30_000);
  }
  for (const [name, reason] of Object.entries(stores.skipped))
    it.skip(`${name}: ${reason}`, () => {});
});
