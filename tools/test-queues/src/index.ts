/**
 * `@idem/test-queues` (private, test-only): the crash harness of the queue
 * examples (apps/queue-rabbitmq, apps/queue-nats). `crashSuite` runs an
 * example's consumer in child processes (each talks to the test through
 * `parentLink()` from `@idem/test-queues/child`), SIGKILLs one at its crash
 * points, starts a replacement, and checks the ledger: every message applied
 * exactly once. `policySuite` checks what the consumer does with each outcome
 * of `run`. Each example plugs its broker in through a `PolicyQueue`.
 *
 * @packageDocumentation
 */
export { ackProblems } from './acks.js';
export {
  type CrashSuiteOptions,
  crashSuite,
  type Outgoing,
  type TestQueue,
} from './crash-suite.js';
export { type Figures, figures, type Ledger } from './figures.js';
export {
  MAX_DELIVERIES,
  type PolicyConsumerOptions,
  type PolicyContext,
  type PolicyQueue,
  type PolicySuiteOptions,
  policySuite,
} from './policy-suite.js';
export { DATABASE_URL, reachPostgres, testPool, uniqueName } from './postgres.js';
export type { CrashPoint, SettledEvent } from './protocol.js';
export { type CrashRun, type CrashRunOptions, crashRun, type Kill } from './run.js';
