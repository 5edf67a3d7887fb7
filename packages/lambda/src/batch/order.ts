import type { BatchRecord } from './sources.js';

/** Whether a record is done (`true`) or must be delivered again. */
type Attempt = (record: BatchRecord) => Promise<boolean>;

/**
 * Ordered sources: one record at a time, and none after the first failure.
 * Returns the records to report: that failure and everything after it.
 * Lambda resumes a stream from the lowest sequence number reported and a
 * FIFO queue needs every later message back to keep its group's order, so
 * listing them all is right for both, and tells the reader which records
 * never ran.
 */
export async function inOrder(
  records: readonly BatchRecord[],
  attempt: Attempt,
): Promise<readonly BatchRecord[]> {
  for (let i = 0; i < records.length; i++) {
    if (!(await attempt(records[i] as BatchRecord))) return records.slice(i);
  }
  return [];
}

/**
 * Unordered sources: up to `concurrency` records at once. Copies of one
 * message in a batch (SQS delivers at least once) run one after the other,
 * so the second replays the first instead of meeting it in flight.
 * Returns the failed records in the event's order.
 */
export async function inGroups(
  records: readonly BatchRecord[],
  identifier: (record: BatchRecord) => string | undefined,
  concurrency: number,
  attempt: Attempt,
): Promise<readonly BatchRecord[]> {
  const groups = new Map<string | undefined, BatchRecord[]>();
  for (const record of records) {
    const id = identifier(record);
    const group = groups.get(id);
    if (group) group.push(record);
    else groups.set(id, [record]);
  }
  const queue = [...groups.values()];
  const failed = new Set<BatchRecord>();
  const worker = async () => {
    for (let group = queue.shift(); group; group = queue.shift()) {
      for (const record of group) if (!(await attempt(record))) failed.add(record);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  return records.filter((record) => failed.has(record));
}
