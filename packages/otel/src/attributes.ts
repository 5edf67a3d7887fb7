import type { HookEvent } from '@idem/core';
import type { Attributes } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE, ATTR_IDEM_SCOPE_HASH } from './names.js';

// OpenTelemetry's HTTP conventions: any other method is `_OTHER`, so a
// client inventing methods cannot blow up the number of series.
const METHODS = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'QUERY',
  'TRACE',
]);

/** The method as `http.request.method` carries it. */
export function methodOf(method: string): string {
  const upper = method.toUpperCase();
  return METHODS.has(upper) ? upper : '_OTHER';
}

/**
 * The attributes every request metric carries: the method and route of an
 * HTTP request (never its path, whose values are unbounded), and the scope
 * hash when asked for.
 */
export function requestAttributes(event: HookEvent, scopeHash: boolean): Attributes {
  const attributes: Attributes = {};
  if (event.method !== undefined) attributes[ATTR_HTTP_REQUEST_METHOD] = methodOf(event.method);
  if (event.route !== undefined) attributes[ATTR_HTTP_ROUTE] = event.route;
  if (scopeHash) attributes[ATTR_IDEM_SCOPE_HASH] = event.scopeHash;
  return attributes;
}
