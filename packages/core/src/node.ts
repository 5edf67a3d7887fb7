/**
 * `@idem/core/node`: translation between Node's `http` request and response
 * objects and the framework-neutral layer of `@idem/core/http`, for adapters
 * of frameworks that answer through a Node `ServerResponse` (Express,
 * Fastify, Koa). Node-only by purpose; `@idem/core` and `@idem/core/http` stay
 * free of it so they run on edge runtimes.
 *
 * @packageDocumentation
 */
export { type CaptureOptions, captureNodeResponse } from './node/capture.js';
export { type NodeRequestLike, nodeHttpRequest } from './node/request.js';
export {
  keepRawBody,
  nodeRequestBody,
  type ParsedBody,
  RequestBodyError,
  type RequestBodyErrorCode,
} from './node/request-body.js';
export {
  type NodeHeaderValue,
  type NodeResponseLike,
  nodeHeaderLines,
  sendNodeResponse,
} from './node/response.js';
