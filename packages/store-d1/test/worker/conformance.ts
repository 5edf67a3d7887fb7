// The everyday tier's entry: every check, in the quick profile; the deep
// tier runs them in full (conformance-full.ts).
import type { ChecksWorker } from '@idem/test-workerd/worker';
import { type D1Env, d1ChecksWorker } from './checks.js';

const worker: ChecksWorker<D1Env> = d1ChecksWorker('quick');
export default worker;
