import type { Fleet } from './fleet.js';
import type { DynamoRequest } from './functions/world.js';
import type { Verdict, Verdicted } from './scenarios.js';

/**
 * The figures a deep run reports for the project's notes: per entry point,
 * event source and store, the storms' counts, the takeover delays, and the
 * DynamoDB requests each kind of delivery made. Printed as one JSON line
 * per row (prefix `idem-lambda-figures`) so a run's log can be grepped.
 */
export function printFigures(row: Record<string, unknown>): void {
  console.log(`idem-lambda-figures ${JSON.stringify(row)}`);
}

/** DynamoDB requests per delivery, by how the delivery was answered: `{ executed: { 'PutItem:claim:ok': 1, ... } }` averaged. */
export function dynamoPerVerdict(
  fleet: Fleet,
  delivered: readonly Verdicted[],
): Record<string, { deliveries: number; requests: Record<string, number> }> {
  const table: Record<string, { deliveries: number; requests: Record<string, number> }> = {};
  for (const { delivery, verdict } of delivered) {
    table[verdict] ??= { deliveries: 0, requests: {} };
    const entry = table[verdict];
    entry.deliveries++;
    for (const r of fleet.dynamoRequests(delivery.requestId)) {
      const name = `${r.op}:${r.phase}:${r.outcome}`;
      entry.requests[name] = (entry.requests[name] ?? 0) + 1;
    }
  }
  return table;
}

/** The DynamoDB requests of one delivery, each as `op:phase:outcome`. */
export function requestNames(fleet: Fleet, requestId: string): string[] {
  return fleet
    .dynamoRequests(requestId)
    .map((r: DynamoRequest) => `${r.op}:${r.phase}:${r.outcome}`);
}

/** How many deliveries got each verdict. */
export function tally(delivered: readonly Verdicted[]): Record<Verdict, number> {
  const counts: Record<Verdict, number> = { executed: 0, replayed: 0, 'in-flight': 0, other: 0 };
  for (const { verdict } of delivered) counts[verdict]++;
  return counts;
}
