// The everyday tier's entry: every check, in the quick profile; the deep
// tier runs them in full (conformance-worker-full.ts).
import type { ChecksWorker } from '@idem/test-workerd/worker';
import { type ObjectsEnv, objectsChecksWorker } from './conformance-checks.js';

export { IdempotencyObject } from '../src/workerd.js';

const worker: ChecksWorker<ObjectsEnv> = objectsChecksWorker('quick');
export default worker;
