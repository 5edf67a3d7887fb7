import type { HttpExecution } from '@idem/core/http';
import { captureNodeResponse } from '@idem/core/node';
import {
  BadRequestException,
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { catchError, from, mergeMap, type Observable, of, throwError } from 'rxjs';
import {
  describeRequest,
  type NestRequestLike,
  type NestResponseLike,
  nodeResponse,
  sendInstead,
} from './platform.js';
import { IdempotencyRoutes } from './routes.js';

/** Marks a request idem has taken up, so a second interceptor (the module's and `@Idempotent()`'s on one route) passes it on. */
const TAKEN = Symbol('idem.nestjs.taken');

/**
 * The interceptor under `@Idempotent()` and `allRoutes`, which
 * `IdempotencyModule` installs for the whole application (`APP_INTERCEPTOR`).
 * It runs after guards, so `scope` sees what authentication set on the
 * request, and before pipes and the handler. It translates between Nest and
 * `@idem/core/http` and decides nothing itself: a replay or a problem goes
 * out in place of the handler; a claimed request runs the handler, whose
 * response (whatever wrote it: a returned value, `StreamableFile`, `@Res()`,
 * an exception filter) is stored as the client gets it.
 */
export class IdempotencyInterceptor implements NestInterceptor {
  readonly #routes: IdempotencyRoutes;

  /** @param routes The module's idem and the options of each route (`IdempotencyModule` provides it). */
  constructor(routes: IdempotencyRoutes) {
    this.#routes = routes;
  }

  /**
   * Nest's interceptor method: pass the request on, answer it in place of
   * the handler, or run the handler under a claim and store its response.
   */
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const route = this.#routes.of(context.getClass(), context.getHandler());
    if (route === null) return next.handle();
    const http = context.switchToHttp();
    const req = http.getRequest<NestRequestLike & { [TAKEN]?: true }>();
    if (req[TAKEN]) return next.handle();
    req[TAKEN] = true;
    const res = http.getResponse<NestResponseLike>();
    return from(this.#routes.http.handle(describeRequest(req), req, undefined, route)).pipe(
      catchError((error: unknown) => throwError(() => asNestError(error))),
      mergeMap((decision) => {
        if (decision.kind === 'pass') return next.handle();
        if (decision.kind === 'respond') {
          sendInstead(res, decision.response);
          return of(undefined);
        }
        return this.#run(decision, req, res, next);
      }),
    );
  }

  #run(
    execution: HttpExecution,
    req: NestRequestLike,
    res: NestResponseLike,
    next: CallHandler,
  ): Observable<unknown> {
    req.idempotency = execution.claim;
    // A handler (or pipe) that throws releases the key, whatever status the
    // exception filter answers with: a thrown HttpException is a refusal,
    // not an answer to keep, and a transactional store rolls its writes back.
    let threw = false;
    captureNodeResponse(
      nodeResponse(res),
      {
        ...execution,
        complete: (response) =>
          threw ? execution.release().then(() => undefined) : execution.complete(response),
      },
      { limit: this.#routes.http.maxResponseBytes },
    );
    return next.handle().pipe(
      catchError((error: unknown) => {
        threw = true;
        return throwError(() => error);
      }),
    );
  }
}

// Decorators applied as calls: the source then compiles under any decorator
// setting (tsx and vitest read it through the @idem/source condition).
Injectable()(IdempotencyInterceptor);
Inject(IdempotencyRoutes)(IdempotencyInterceptor, undefined, 0);

/** A body the client broke off is the client's error (400); everything else stays as thrown (500). */
function asNestError(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code === 'BODY_UNREADABLE'
    ? new BadRequestException((error as Error).message, { cause: error })
    : error;
}
