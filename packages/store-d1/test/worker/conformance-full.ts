// The deep tier's entry: every check in the full profile.
import type { ChecksWorker } from '@idem/test-workerd/worker';
import { type D1Env, d1ChecksWorker } from './checks.js';

const worker: ChecksWorker<D1Env> = d1ChecksWorker('full');
export default worker;
