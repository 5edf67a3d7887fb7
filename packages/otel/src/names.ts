// The names below are the package's contract with dashboards and alerts:
// renaming one breaks every query built on it, so they change only with a
// major version. OpenTelemetry's own names (http.*, url.*, error.*,
// exception.*) follow its semantic conventions.

/** How the request ended: `finished.outcome` (`executed`, `replayed`, `in_flight`…). */
export const ATTR_IDEM_OUTCOME = 'idem.outcome';
/** The store key (a SHA-256 of scope and key): what the store files the record under. Spans only. */
export const ATTR_IDEM_STORE_KEY = 'idem.store_key';
/** A SHA-256 of the scope alone: groups by tenant without naming it. Spans; metrics when opted in. */
export const ATTR_IDEM_SCOPE_HASH = 'idem.scope_hash';
/** The status stored or replayed (the HTTP status; 200 for the generic engine). */
export const ATTR_IDEM_RESULT_STATUS = 'idem.result.status';
/** Whether the result is kept for replay (`false`: "ran, not stored", a retry gets 410). */
export const ATTR_IDEM_RESULT_STORED = 'idem.result.stored';
/** Why a key was given back: `failed` or `not_kept`. */
export const ATTR_IDEM_RELEASE_REASON = 'idem.release.reason';
/** The store operation: `claim`, `complete`, `release`, `renew` or `read`. */
export const ATTR_IDEM_STORE_OPERATION = 'idem.store.operation';
/** How many times idem tried to store the result (1 unless the store failed). */
export const ATTR_IDEM_COMPLETION_ATTEMPTS = 'idem.completion.attempts';
/** Lease renewals while the operation ran. */
export const ATTR_IDEM_RENEWALS = 'idem.renewals';
/** The owner's lease ran out and another request took the key while the operation ran. */
export const ATTR_IDEM_LEASE_LOST = 'idem.lease_lost';

/** OpenTelemetry's `http.request.method`: the method, normalised (`_OTHER` when not a standard one). */
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
/** OpenTelemetry's `http.route`: the route pattern, where the framework knows it (Hono, Fastify). */
export const ATTR_HTTP_ROUTE = 'http.route';
/** OpenTelemetry's `url.path`: the request path without the query. Spans only. */
export const ATTR_URL_PATH = 'url.path';
/** OpenTelemetry's `error.type`, on failed store calls: `_OTHER` (the hook events do not carry the error's type). */
export const ATTR_ERROR_TYPE = 'error.type';

/** Histogram (s) of requests from `started` to `finished`, by `idem.outcome`. */
export const METRIC_IDEM_REQUEST_DURATION = 'idem.request.duration';
/** Up-down counter of requests between `started` and `finished`. */
export const METRIC_IDEM_ACTIVE_REQUESTS = 'idem.active_requests';
/** Counter of operations that ran and whose result went to the store. */
export const METRIC_IDEM_EXECUTIONS = 'idem.executions';
/** Counter of duplicates answered from the store. */
export const METRIC_IDEM_REPLAYS = 'idem.replays';
/** Counter of duplicates that arrived while the first still ran (409). */
export const METRIC_IDEM_IN_FLIGHT = 'idem.in_flight';
/** Counter of keys reused for a different request (422). */
export const METRIC_IDEM_MISMATCHES = 'idem.mismatches';
/** Counter of keys given back (the operation failed, or its answer is not kept). */
export const METRIC_IDEM_RELEASES = 'idem.releases';
/** Counter of owners whose lease ran out and was taken over. */
export const METRIC_IDEM_LEASE_LOSSES = 'idem.lease.losses';
/** Counter of completions tried again after the store failed. */
export const METRIC_IDEM_COMPLETION_RETRIES = 'idem.completion.retries';
/** Counter of results that could not be stored before the lease ran out. */
export const METRIC_IDEM_COMPLETION_FAILURES = 'idem.completion.failures';
/** Histogram (s) of store calls, by `idem.store.operation`. */
export const METRIC_IDEM_STORE_DURATION = 'idem.store.duration';
/** Counter of store calls that failed or timed out, by operation. */
export const METRIC_IDEM_STORE_ERRORS = 'idem.store.errors';

/** Span of one protected request, from `started` to `finished`: `idem <outcome>`. */
export const SPAN_IDEM_REQUEST_PREFIX = 'idem ';
/** Child span of an execution: its claim. */
export const SPAN_IDEM_CLAIM = 'idem claim';
/** Child span of an execution: storing its result, retries included. */
export const SPAN_IDEM_COMPLETE = 'idem complete';
/** Event on the active span when a store call failed. */
export const EVENT_IDEM_STORE_ERROR = 'idem.store_error';
