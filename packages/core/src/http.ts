/**
 * `@idem/core/http`: the framework-neutral HTTP layer, for adapter authors.
 * Adapters (Hono, Express, Fastify) translate their request and response to
 * these types and contain no protocol logic of their own: every decision,
 * and its order, is made here. Applications import their adapter instead.
 *
 * @packageDocumentation
 */

export { type FingerprintInput, fingerprintRequest } from './fingerprint.js';
export {
  type CapturedBody,
  captureBody,
  isNullBodyStatus,
  streamsThrough,
} from './http/body.js';
export { encodeFormData, encodeFormFields, isFormContentType } from './http/form.js';
export {
  type CompletedResponse,
  createHttpIdempotency,
  type HttpBodyDecision,
  type HttpBodyRead,
  type HttpDecision,
  type HttpExecution,
  type HttpIdempotency,
  type HttpIdempotencyOptions,
  type HttpRequest,
  type HttpRequestHead,
  type HttpResponse,
  type HttpRoute,
  isFinalStatus,
} from './http/handler.js';
export { DEFAULT_PROBLEM_TYPE_BASE, type ProblemKind, problemResponse } from './http/problem.js';
export {
  type FingerprintOption,
  type KeyFormat,
  type KeySource,
  nestedMiddlewareError,
  type PerRequest,
  type RequestParts,
  type RouteOptions,
} from './http/route.js';
export {
  settleWebResponse,
  type WebOutcome,
  type WebSettlement,
  webResponse,
} from './http/web.js';
export { type WebhookProvider, webhooks } from './http/webhooks.js';
export { MAX_KEY_LENGTH, type ParsedKey, parseIdempotencyKey } from './key.js';
