/**
 * `@idem/core/http`: the framework-neutral HTTP layer. Adapters (Hono,
 * Express, Fastify) translate their request and response to these types and
 * contain no protocol logic of their own.
 *
 * @packageDocumentation
 */
export {
  type CapturedBody,
  captureBody,
  isNullBodyStatus,
  streamsThrough,
} from './http/body.js';
export {
  encodeFormFields,
  isFormContentType,
  parseFormFields,
} from './http/form.js';
export {
  type CompletedResponse,
  createHttpIdempotency,
  type HttpDecision,
  type HttpIdempotency,
  type HttpIdempotencyOptions,
  type HttpRequest,
  type HttpResponse,
} from './http/handler.js';
export { storableHeaders } from './http/headers.js';
export {
  captureNodeResponse,
  type HttpExecution,
  type NodeRequestLike,
  type NodeResponseLike,
  nodeHttpRequest,
  sendNodeResponse,
} from './http/node.js';
export { DEFAULT_PROBLEM_TYPE_BASE, type ProblemKind, problemResponse } from './http/problem.js';
