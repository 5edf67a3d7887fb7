/**
 * `@idem/lambda`: idempotency for AWS Lambda.
 *
 * @packageDocumentation
 */
export * from './batch/index.js';
