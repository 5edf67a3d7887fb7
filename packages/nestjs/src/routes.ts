import {
  createHttpIdempotency,
  type HttpIdempotency,
  type HttpRoute,
  type RouteOptions,
} from '@idem/core/http';
import { Reflector } from '@nestjs/core';
import { IDEMPOTENT, type IdempotencyModuleOptions, type IdempotentOptions } from './options.js';

// biome-ignore lint/suspicious/noExplicitAny: the platform's request, as in IdempotencyModuleOptions.
type Req = any;

/**
 * The module's idem: core's HTTP layer built from the module's options,
 * and which routes it covers, with what options. Each handler's options
 * are checked and merged once (at startup, see `IdempotencyModule`), never
 * per request.
 */
export class IdempotencyRoutes {
  /** Core's HTTP layer, under the module's options. */
  readonly http: HttpIdempotency<Req>;
  readonly #allRoutes: boolean;
  readonly #reflector = new Reflector();
  /** Per controller, per handler: a handler a base class shares may be under other options in each subclass. */
  readonly #resolved = new WeakMap<object, WeakMap<object, HttpRoute<Req> | null>>();

  /** Throws `ConfigurationError` naming the fix for options that do not hold. */
  constructor(options: IdempotencyModuleOptions) {
    const { allRoutes = false, ...http } = options;
    this.http = createHttpIdempotency<Req>(http);
    this.#allRoutes = allRoutes;
  }

  /**
   * The options a handler runs under, or `null` when idem leaves it alone:
   * the handler's `@Idempotent()` over its controller's over the module's.
   * Throws `ConfigurationError` for options that do not hold.
   */
  of(
    controller: abstract new (...args: never[]) => unknown,
    handler: object,
  ): HttpRoute<Req> | null {
    let resolved = this.#resolved.get(controller);
    if (resolved === undefined) {
      resolved = new WeakMap();
      this.#resolved.set(controller, resolved);
    }
    let route = resolved.get(handler);
    if (route !== undefined) return route;
    const own = this.#reflector.get<IdempotentOptions | false | undefined>(
      IDEMPOTENT,
      handler as never,
    );
    const shared = this.#reflector.get<IdempotentOptions | false | undefined>(
      IDEMPOTENT,
      controller,
    );
    let options: RouteOptions<Req> | undefined;
    if (own === false || (own === undefined && shared === false)) options = undefined;
    else if (own === undefined && shared === undefined) options = this.#allRoutes ? {} : undefined;
    else options = { ...(shared || {}), ...own };
    const name = (handler as { name?: string }).name;
    route =
      options === undefined
        ? null
        : Object.keys(options).length === 0
          ? this.http.base
          : this.http.route(options, `@Idempotent() on ${controller.name}.${name}`);
    resolved.set(handler, route);
    return route;
  }
}
