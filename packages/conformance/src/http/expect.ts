import type { ProblemKind } from '@idem/core/http';
import { sameBytes } from '../bytes.js';
import type { Reply } from './client.js';
import { check } from './harness.js';

export type { ProblemKind };

/** The default `type` prefix (`problemTypeBase`). */
export const PROBLEM_BASE = 'urn:idem:problem:';

/** Headers a replay may legitimately differ in (docs/SEMANTICS.md, Replayed headers), plus idem's own marker. */
const PER_RESPONSE = new Set([
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'set-cookie',
  'idempotent-replayed',
]);

function describe(reply: Reply): string {
  const text = reply.text();
  return `${reply.status} ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`;
}

/** Check that `reply` is an RFC 9457 problem of `kind` with `status`, and return its body. */
export function expectProblem(
  reply: Reply,
  kind: ProblemKind,
  status: number,
  what: string,
): Record<string, unknown> {
  check(reply.status === status, `${what}: expected ${status} ${kind}, got ${describe(reply)}`);
  const type = reply.header('content-type') ?? '';
  check(
    /^application\/problem\+json\s*(;|$)/i.test(type),
    `${what}: a problem must be application/problem+json, got content-type ${JSON.stringify(type)}`,
  );
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(reply.text());
  } catch {
    throw new Error(`${what}: the problem body is not JSON: ${describe(reply)}`);
  }
  check(
    body.type === PROBLEM_BASE + kind,
    `${what}: expected type ${PROBLEM_BASE + kind}, got ${JSON.stringify(body.type)}`,
  );
  check(
    body.status === status,
    `${what}: the problem's status must be ${status}, got ${JSON.stringify(body.status)}`,
  );
  check(typeof body.title === 'string' && body.title !== '', `${what}: the problem needs a title`);
  check(
    typeof body.detail === 'string' && body.detail !== '',
    `${what}: the problem needs a detail`,
  );
  check(
    /no-store/i.test(reply.header('cache-control') ?? ''),
    `${what}: a problem must carry Cache-Control: no-store, got ${JSON.stringify(reply.header('cache-control'))}`,
  );
  check(
    reply.header('idempotent-replayed') === undefined,
    `${what}: a problem is not a replay, yet it carries Idempotent-Replayed`,
  );
  return body;
}

/** Check that `reply` came from the handler, not from idem's store. */
export function expectFresh(reply: Reply, what: string): void {
  check(
    reply.header('idempotent-replayed') === undefined,
    `${what}: expected the handler's own response, got one marked Idempotent-Replayed`,
  );
  check(
    !/problem\+json/i.test(reply.header('content-type') ?? ''),
    `${what}: expected the handler's own response, got a problem: ${describe(reply)}`,
  );
}

/**
 * Check that `replay` is `first` byte for byte (status, headers but the
 * per-response ones, body) plus `Idempotent-Replayed: true`.
 */
export function expectReplay(replay: Reply, first: Reply, what: string): void {
  check(
    replay.header('idempotent-replayed') === 'true',
    `${what}: a replay must carry Idempotent-Replayed: true, got ${describe(replay)} with ${JSON.stringify(replay.header('idempotent-replayed'))}`,
  );
  check(
    replay.status === first.status,
    `${what}: replayed status ${replay.status}, first was ${first.status}`,
  );
  check(
    sameBytes(replay.body, first.body),
    `${what}: the replayed body differs from the first (${replay.body.byteLength} vs ${first.body.byteLength} bytes)`,
  );
  const kept = (r: Reply) => JSON.stringify(r.headers.filter(([name]) => !PER_RESPONSE.has(name)));
  check(
    kept(replay) === kept(first),
    `${what}: replayed headers differ from the first response's:\n  first:  ${kept(first)}\n  replay: ${kept(replay)}`,
  );
}
