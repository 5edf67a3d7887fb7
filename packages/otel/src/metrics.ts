import type { HookEvent, IdempotencyHooks } from '@idem/core';
import type { Attributes, Counter, Histogram, Meter, UpDownCounter } from '@opentelemetry/api';
import { requestAttributes } from './attributes.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_IDEM_OUTCOME,
  ATTR_IDEM_RELEASE_REASON,
  ATTR_IDEM_RESULT_STORED,
  ATTR_IDEM_STORE_OPERATION,
  METRIC_IDEM_ACTIVE_REQUESTS,
  METRIC_IDEM_COMPLETION_FAILURES,
  METRIC_IDEM_COMPLETION_RETRIES,
  METRIC_IDEM_EXECUTIONS,
  METRIC_IDEM_IN_FLIGHT,
  METRIC_IDEM_LEASE_LOSSES,
  METRIC_IDEM_MISMATCHES,
  METRIC_IDEM_RELEASES,
  METRIC_IDEM_REPLAYS,
  METRIC_IDEM_REQUEST_DURATION,
  METRIC_IDEM_STORE_DURATION,
  METRIC_IDEM_STORE_ERRORS,
} from './names.js';

// OpenTelemetry's buckets for HTTP server durations, and for database calls.
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const STORE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

interface Instruments {
  readonly duration: Histogram;
  readonly active: UpDownCounter;
  readonly executions: Counter;
  readonly replays: Counter;
  readonly inFlight: Counter;
  readonly mismatches: Counter;
  readonly releases: Counter;
  readonly leaseLosses: Counter;
  readonly retries: Counter;
  readonly failures: Counter;
  readonly storeDuration: Histogram;
  readonly storeErrors: Counter;
}

function instruments(meter: Meter): Instruments {
  const counter = (name: string, unit: string, description: string) =>
    meter.createCounter(name, { unit, description });
  return {
    duration: meter.createHistogram(METRIC_IDEM_REQUEST_DURATION, {
      unit: 's',
      description: 'Protected requests, from their arrival to their outcome, by outcome.',
      advice: { explicitBucketBoundaries: REQUEST_BUCKETS },
    }),
    active: meter.createUpDownCounter(METRIC_IDEM_ACTIVE_REQUESTS, {
      unit: '{request}',
      description: 'Protected requests whose outcome is not known yet.',
    }),
    executions: counter(
      METRIC_IDEM_EXECUTIONS,
      '{execution}',
      'Operations that ran and whose result went to the store.',
    ),
    replays: counter(METRIC_IDEM_REPLAYS, '{replay}', 'Duplicates answered from the store.'),
    inFlight: counter(
      METRIC_IDEM_IN_FLIGHT,
      '{request}',
      'Duplicates that arrived while the first still ran.',
    ),
    mismatches: counter(
      METRIC_IDEM_MISMATCHES,
      '{mismatch}',
      'Keys reused for a different request.',
    ),
    releases: counter(METRIC_IDEM_RELEASES, '{release}', 'Keys given back for a retry to run.'),
    leaseLosses: counter(
      METRIC_IDEM_LEASE_LOSSES,
      '{loss}',
      'Owners whose lease ran out and was taken over while the operation ran.',
    ),
    retries: counter(
      METRIC_IDEM_COMPLETION_RETRIES,
      '{retry}',
      'Completions tried again after the store failed.',
    ),
    failures: counter(
      METRIC_IDEM_COMPLETION_FAILURES,
      '{failure}',
      'Results that could not be stored before the lease ran out.',
    ),
    storeDuration: meter.createHistogram(METRIC_IDEM_STORE_DURATION, {
      unit: 's',
      description: 'Store calls, by operation.',
      advice: { explicitBucketBoundaries: STORE_BUCKETS },
    }),
    storeErrors: counter(
      METRIC_IDEM_STORE_ERRORS,
      '{error}',
      'Store calls that failed or did not answer within storeTimeoutMs.',
    ),
  };
}

// storeCall does not carry the error (storeError does, but handling that hook
// would silence idem's own log of store errors): the type stays unknown.
const failed = (attributes: Attributes): Attributes => ({
  ...attributes,
  [ATTR_ERROR_TYPE]: '_OTHER',
});

/**
 * Hooks that count what idem did. Request metrics carry the method and route
 * (and the scope hash when asked for); store metrics only the operation, since
 * the store is shared by every route.
 */
export function metricHooks(meter: () => Meter, scopeHash: boolean): IdempotencyHooks {
  let made: Instruments | undefined;
  const m = () => {
    made ??= instruments(meter());
    return made;
  };
  const of = (event: HookEvent, extra?: Attributes): Attributes => ({
    ...requestAttributes(event, scopeHash),
    ...extra,
  });

  return {
    started(event) {
      m().active.add(1, of(event));
    },
    finished(event) {
      m().active.add(-1, of(event));
      m().duration.record(
        event.durationMs / 1000,
        of(event, { [ATTR_IDEM_OUTCOME]: event.outcome }),
      );
    },
    executed(event) {
      m().executions.add(1, of(event, { [ATTR_IDEM_RESULT_STORED]: event.stored }));
      if (event.attempts > 1) m().retries.add(event.attempts - 1, of(event));
    },
    replayed(event) {
      m().replays.add(1, of(event, { [ATTR_IDEM_RESULT_STORED]: event.stored }));
    },
    inFlight(event) {
      m().inFlight.add(1, of(event));
    },
    mismatch(event) {
      m().mismatches.add(1, of(event));
    },
    released(event) {
      m().releases.add(1, of(event, { [ATTR_IDEM_RELEASE_REASON]: event.reason }));
    },
    leaseLost(event) {
      m().leaseLosses.add(1, of(event));
    },
    completionFailed(event) {
      m().failures.add(1, of(event));
      if (event.attempts > 1) m().retries.add(event.attempts - 1, of(event));
    },
    storeCall(event) {
      const attributes: Attributes = { [ATTR_IDEM_STORE_OPERATION]: event.operation };
      m().storeDuration.record(event.durationMs / 1000, event.ok ? attributes : failed(attributes));
      if (!event.ok) m().storeErrors.add(1, failed(attributes));
    },
  };
}
