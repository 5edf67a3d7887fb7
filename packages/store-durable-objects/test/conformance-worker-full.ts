// The deep tier's entry: every check in the full profile.
import type { ChecksWorker } from '@idem/test-workerd/worker';
import { type ObjectsEnv, objectsChecksWorker } from './conformance-checks.js';

export { IdempotencyObject } from '../src/workerd.js';

const worker: ChecksWorker<ObjectsEnv> = objectsChecksWorker('full');
export default worker;
