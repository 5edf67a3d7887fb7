/**
 * A Worker whose object class comes from the package's entry for other
 * runtimes, as when a bundler misses the workerd export condition.
 */
export { IdempotencyObject } from '../src/index.js';
export { default } from './worker.js';
