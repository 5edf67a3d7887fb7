import { utf8 } from '../bytes.js';
import type { StoredResponse } from '../store/contract.js';

/** Every kind of problem idem answers with; each has its own RFC 9457 `type`. */
export type ProblemKind =
  | 'key-missing'
  | 'key-invalid'
  | 'fingerprint-mismatch'
  | 'request-in-flight'
  | 'store-unavailable'
  | 'response-not-stored'
  | 'rolled-back'
  | 'request-too-large';

const TITLES: Record<ProblemKind, string> = {
  'key-missing': 'Idempotency-Key header missing',
  'key-invalid': 'Idempotency-Key header invalid',
  'fingerprint-mismatch': 'Idempotency-Key reused for a different request',
  'request-in-flight': 'A request with this Idempotency-Key is in progress',
  'store-unavailable': 'Idempotency store unavailable',
  'response-not-stored': 'Original response too large to replay',
  'rolled-back': 'Request rolled back with its idempotency record',
  'request-too-large': 'Request body too large for an idempotent request',
};

/**
 * Base of the problem `type` URIs: `urn:idem:problem:key-missing`, … A URN
 * names the kind stably without pointing at a server we may not run.
 */
export const DEFAULT_PROBLEM_TYPE_BASE = 'urn:idem:problem:';

/**
 * An `application/problem+json` response (RFC 9457). The body holds only the
 * kind's fixed title and a detail written by idem: never anything taken from
 * a stored response or another scope.
 */
export function problemResponse(
  kind: ProblemKind,
  status: number,
  detail: string,
  options: {
    readonly typeBase?: string;
    readonly headers?: ReadonlyArray<readonly [string, string]>;
    readonly extensions?: Readonly<Record<string, string | number>>;
  } = {},
): StoredResponse {
  const body = {
    type: `${options.typeBase ?? DEFAULT_PROBLEM_TYPE_BASE}${kind}`,
    title: TITLES[kind],
    status,
    detail,
    ...options.extensions,
  };
  return {
    status,
    headers: [
      ['content-type', 'application/problem+json'],
      ['cache-control', 'no-store'],
      ...(options.headers ?? []),
    ],
    body: utf8(JSON.stringify(body)),
  };
}
