import type { HookEvent, IdempotencyHooks } from '@idem/core';
import {
  type Attributes,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { methodOf } from './attributes.js';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_ROUTE,
  ATTR_IDEM_COMPLETION_ATTEMPTS,
  ATTR_IDEM_LEASE_LOST,
  ATTR_IDEM_OUTCOME,
  ATTR_IDEM_RENEWALS,
  ATTR_IDEM_RESULT_STATUS,
  ATTR_IDEM_SCOPE_HASH,
  ATTR_IDEM_STORE_KEY,
  ATTR_IDEM_STORE_OPERATION,
  ATTR_URL_PATH,
  EVENT_IDEM_STORE_ERROR,
  SPAN_IDEM_CLAIM,
  SPAN_IDEM_COMPLETE,
  SPAN_IDEM_REQUEST_PREFIX,
} from './names.js';

type EventOf<K extends keyof IdempotencyHooks> = Parameters<NonNullable<IdempotencyHooks[K]>>[0];

/**
 * What the events just before a request's `finished` told about it. The
 * engine emits `executed` and `completionFailed` (and a `leaseLost` found by
 * the completion, just before `executed`) synchronously with the `finished`
 * that follows: no other request's event can come in between, so one slot
 * carries them over, without pairing requests by key (several requests with
 * one key may be in flight at once).
 */
interface Carried {
  readonly storeKey: string;
  readonly executed?: EventOf<'executed'>;
  readonly leaseLost?: boolean;
  readonly completionAttempts?: number;
}

/** The attributes of a request's span: which record, and which HTTP request. */
function recordAttributes(event: HookEvent): Attributes {
  const attributes: Attributes = {
    [ATTR_IDEM_STORE_KEY]: event.storeKey,
    [ATTR_IDEM_SCOPE_HASH]: event.scopeHash,
  };
  if (event.method !== undefined) attributes[ATTR_HTTP_REQUEST_METHOD] = methodOf(event.method);
  if (event.route !== undefined) attributes[ATTR_HTTP_ROUTE] = event.route;
  if (event.path !== undefined) attributes[ATTR_URL_PATH] = event.path;
  return attributes;
}

/** Why a request's span is an error, if it is one. */
function errorOf(outcome: EventOf<'finished'>['outcome'], carried: Carried | undefined) {
  if (outcome === 'failed') return 'the operation failed; its key was released for a retry';
  if (outcome === 'rolled_back') {
    return "the store rolled the operation's writes back with the record; its key was released for a retry";
  }
  if (outcome === 'store_unavailable') return 'the store failed or did not answer in time';
  if (carried?.leaseLost) {
    return 'the lease ran out and another request took the key while the operation ran';
  }
  if (carried?.completionAttempts !== undefined) {
    return 'the result could not be stored before the lease ran out: a retry runs the operation again';
  }
  return undefined;
}

/** One span per protected request, built when its outcome is known, with its phases as children. */
function requestSpan(tracer: Tracer, event: EventOf<'finished'>, carried?: Carried): void {
  const end = Date.now();
  const start = end - event.durationMs;
  // The context of whoever waits for the outcome: the HTTP request's (its
  // server span) under an instrumented framework, the consumer's around run().
  const parent = context.active();
  const attributes = recordAttributes(event);
  attributes[ATTR_IDEM_OUTCOME] = event.outcome;
  if (event.status !== undefined) attributes[ATTR_IDEM_RESULT_STATUS] = event.status;
  const executed = carried?.executed;
  if (executed) attributes[ATTR_IDEM_RENEWALS] = executed.renewals;
  if (carried?.leaseLost) attributes[ATTR_IDEM_LEASE_LOST] = true;
  const attempts = executed?.attempts ?? carried?.completionAttempts;
  if (attempts !== undefined) attributes[ATTR_IDEM_COMPLETION_ATTEMPTS] = attempts;

  const span = tracer.startSpan(
    `${SPAN_IDEM_REQUEST_PREFIX}${event.outcome}`,
    { kind: SpanKind.INTERNAL, startTime: start, attributes },
    parent,
  );
  const error = errorOf(event.outcome, carried);
  if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  if (executed) phases(tracer, trace.setSpan(parent, span), executed, start, end);
  span.end(end);
}

/** An execution's claim (from the start) and completion (up to the end), around the operation. */
function phases(
  tracer: Tracer,
  parent: ReturnType<typeof context.active>,
  executed: EventOf<'executed'>,
  start: number,
  end: number,
): void {
  const child = (name: string, from: number, to: number, attributes: Attributes = {}): Span => {
    const span = tracer.startSpan(
      name,
      { kind: SpanKind.INTERNAL, startTime: Math.min(from, end), attributes },
      parent,
    );
    span.end(Math.max(Math.min(to, end), from));
    return span;
  };
  child(SPAN_IDEM_CLAIM, start, start + executed.claimMs);
  child(SPAN_IDEM_COMPLETE, Math.max(start, end - executed.completeMs), end, {
    [ATTR_IDEM_COMPLETION_ATTEMPTS]: executed.attempts,
  });
}

/**
 * Hooks that trace each protected request as a span `idem <outcome>` under
 * the span active when its outcome is known, and mark store failures on the
 * active span.
 */
export function spanHooks(tracer: () => Tracer): IdempotencyHooks {
  let slot: Carried | undefined;
  /** What the previous event left for this record; every event empties the slot. */
  const take = (event: HookEvent): Carried | undefined => {
    const carried = slot?.storeKey === event.storeKey ? slot : undefined;
    slot = undefined;
    return carried;
  };
  const clear = (event: HookEvent) => void take(event);

  return {
    // Their own fields are in `finished` too; they only empty the slot, so
    // that nothing an earlier event left is taken for theirs.
    started: clear,
    released: clear,
    replayed: clear,
    inFlight: clear,
    mismatch: clear,
    leaseLost(event) {
      take(event);
      slot = { storeKey: event.storeKey, leaseLost: true };
    },
    executed(event) {
      const leaseLost = take(event)?.leaseLost === true;
      slot = { storeKey: event.storeKey, executed: event, leaseLost };
    },
    completionFailed(event) {
      take(event);
      slot = { storeKey: event.storeKey, completionAttempts: event.attempts };
    },
    finished(event) {
      requestSpan(tracer(), event, take(event));
    },
    storeCall(event) {
      take(event);
      // Lease renewals run on one timer for every request, in whichever
      // request's context started it: their failures belong to no request.
      if (event.ok || event.operation === 'renew') return;
      const active = trace.getActiveSpan();
      if (!active?.isRecording()) return;
      active.addEvent(EVENT_IDEM_STORE_ERROR, {
        [ATTR_IDEM_STORE_OPERATION]: event.operation,
        [ATTR_IDEM_STORE_KEY]: event.storeKey,
      });
    },
  };
}
