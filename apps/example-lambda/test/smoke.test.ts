import { afterAll, expect, it } from 'vitest';
import { stopLocalAws } from '../src/local-aws.ts';
import { retryStorm } from '../src/storm.ts';

afterAll(stopLocalAws);

it('the retry storm charges each payment once and applies each credit once, as npm start shows', async () => {
  const { payments, credits } = await retryStorm({ payments: 5 });

  // Each payment: a first run whose answer was lost, two duplicates while it
  // charged (409), then a retry after Retry-After that gets the first run's payment.
  expect(payments).toMatchObject({
    intended: 5,
    deliveries: 20,
    lost: 5,
    inFlight: 10,
    replayed: 5,
    replayedSamePayment: 5,
    other: 0,
    charges: 5,
    doubleCharged: [],
  });

  // The batch twice: the first time credit 3's account is down, so it alone is
  // reported; the second time the three applied ones are replayed and it runs.
  const flaky = credits.deliveries[0]!.failed;
  expect(flaky).toHaveLength(1);
  expect(flaky[0]).toMatch(/^credit-3-/);
  expect(credits.deliveries).toEqual([
    { records: 4, appliedNow: 3, failed: flaky },
    { records: 4, appliedNow: 1, failed: [] },
  ]);
  expect(credits).toMatchObject({ intended: 4, applied: 4, doubleApplied: [] });
});
