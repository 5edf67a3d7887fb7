import { describe, expect, it } from 'vitest';
import { referenceStore } from '../src/http/reference-store.js';
import { skipReason } from '../src/skip.js';
import { type StoreSuiteOptions, storeChecks } from '../src/store.js';

/** What the `connections` group asks of a store's options, and what it says when they lack it. */
describe('the connections group', () => {
  const bare: StoreSuiteOptions = {
    name: 'x',
    clock: 'injectable',
    createStore: () => referenceStore(),
  };
  const [overConnections, overProcesses] = storeChecks(bare).filter(
    (c) => c.group === 'connections',
  );

  it('fails without `connect`, naming the option and how to skip with a reason', async () => {
    expect(skipReason(bare, overConnections!)).toBeUndefined();
    await expect(overConnections!.run()).rejects.toThrow(
      /no `connect` option: .*skipGroups: \{ connections: '<reason>' \}/,
    );
  });

  it('skips the processes race without `processes`, saying why', () => {
    expect(skipReason(bare, overProcesses!)).toMatch(/^no `processes` option/);
    const declared = { ...bare, skipGroups: { connections: 'one Map, one process' } };
    expect(skipReason(declared, overConnections!)).toBe('one Map, one process');
    expect(skipReason(declared, overProcesses!)).toBe('one Map, one process');
  });

  it('passes a store whose connections share one atomic backend', async () => {
    const store = referenceStore();
    const shared = storeChecks({
      ...bare,
      createStore: () => store,
      connect: () => ({ store, close() {} }),
      raceKeys: 200,
    }).find((c) => c.name === overConnections!.name)!;
    await shared.run();
  });
});
