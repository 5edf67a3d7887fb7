import { isIdempotencyKeyError, keyReader as pointerReader } from '../pointer.js';
import type { BatchRecord, BatchSource } from './sources.js';

/** Where a record's key comes from: a JSON Pointer into its body or data, or a function of the record. */
export type RecordKey<R> = string | ((record: R) => string | number | undefined);

/** A record whose key cannot be read: reported as failed, never run unprotected. */
export class KeyProblem {
  constructor(readonly reason: string) {}
}

/**
 * The function that reads a record's key (a pointer is checked once, here):
 * the source's own id by default, else the package's one JSON Pointer and
 * key-function reading, into what the source's records carry.
 */
export function keyReader<R extends BatchRecord>(
  where: string,
  key: RecordKey<R> | undefined,
): (record: R, source: BatchSource) => string | KeyProblem {
  if (key === undefined) {
    return (record, source) => {
      const id = source.key(record);
      return typeof id === 'string' && id !== '' ? id : new KeyProblem('has no id of its own');
    };
  }
  const read = pointerReader<[R, BatchSource]>(key, where, (record, source) =>
    source.document(record),
  );
  return (record, source) => {
    try {
      return read(record, source);
    } catch (error) {
      if (isIdempotencyKeyError(error)) {
        return new KeyProblem(`has no usable key: ${error.message.slice(where.length + 2)}`);
      }
      if (error instanceof SyntaxError) {
        return new KeyProblem(
          `has a body that is not JSON, so the key ${String(key)} cannot be read`,
        );
      }
      throw error;
    }
  };
}
