export { idempotentBatch } from './handler.js';
export type { RecordKey } from './key.js';
export type {
  BatchEvent,
  BatchHandler,
  BatchIdempotencyOptions,
  BatchOptions,
  BatchResponse,
  RecordHandler,
} from './options.js';
export type { BatchRecord, BatchSourceName } from './sources.js';
