import { describe, expect, it } from 'vitest';
import { gate, testStore } from '../../test/store.js';
import { ConfigurationError, RequestInFlightError } from '../errors.js';
import { scopedKey } from '../scope.js';
import { createIdempotency } from './run.js';

/** testStore with the operators' remove, as every idem store has it. */
function storeWithRemove() {
  const store = testStore();
  return Object.assign(store, {
    async remove(storeKey: string) {
      store.records.delete(storeKey);
    },
  });
}

describe('operators: inspect and remove a record by scope and key', () => {
  it('inspect shows a completed record without its body, by the store key hooks report', async () => {
    const idem = createIdempotency({ store: storeWithRemove() });
    await idem.run('order-1', () => ({ id: 7 }), { scope: 'tenant-a' });
    const record = await idem.inspect({ scope: 'tenant-a', key: 'order-1' });
    expect(record).toMatchObject({
      storeKey: await scopedKey('tenant-a', 'order-1'),
      state: 'completed',
      status: 200,
      stored: true,
      bodyBytes: 8,
      expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(await idem.inspect({ scope: 'tenant-b', key: 'order-1' })).toBeUndefined();
    // By the store key hook events carry, too.
    expect(await idem.inspect({ storeKey: record!.storeKey })).toEqual(record);
  });

  it('release frees a stuck key at once; a completed one only with force', async () => {
    const idem = createIdempotency({ store: storeWithRemove() });
    const stuck = gate();
    const first = idem.run('k', () => stuck.promise);
    await expect(idem.run('k', () => 1)).rejects.toThrow(RequestInFlightError);
    expect(await idem.inspect({ scope: '', key: 'k' })).toMatchObject({ state: 'in_progress' });
    expect(await idem.remove({ scope: '', key: 'k' })).toMatchObject({ state: 'in_progress' });
    expect((await idem.run('k', () => 'again')).kind).toBe('executed');
    stuck.open();
    await first;

    await expect(idem.remove({ scope: '', key: 'k' })).rejects.toThrow(/force: true/);
    await expect(idem.remove({ scope: '', key: 'k' })).rejects.toBeInstanceOf(ConfigurationError);
    expect(await idem.remove({ scope: '', key: 'k', force: true })).toMatchObject({
      state: 'completed',
    });
    expect(await idem.inspect({ scope: '', key: 'k' })).toBeUndefined();
    expect(await idem.remove({ scope: '', key: 'k' })).toBeUndefined();
    expect((await idem.run('k', () => 'third')).kind).toBe('executed');
  });

  it('names what is wrong: a store without remove, a missing key', async () => {
    const idem = createIdempotency({ store: testStore() });
    await idem.run('k', () => 1);
    await expect(idem.remove({ scope: '', key: 'k', force: true })).rejects.toThrow(
      /no remove\(\)/,
    );
    await expect(idem.inspect({ scope: '', key: '' })).rejects.toThrow(/name the record/);
  });
});
