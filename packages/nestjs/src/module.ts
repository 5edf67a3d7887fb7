import { ConfigurationError } from '@idem/core';
import {
  type DynamicModule,
  Inject,
  type InjectionToken,
  Module,
  type ModuleMetadata,
  type OnModuleInit,
  type OptionalFactoryDependency,
  type Provider,
} from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule, DiscoveryService, MetadataScanner } from '@nestjs/core';
import { IdempotencyInterceptor } from './interceptor.js';
import { IDEMPOTENCY_OPTIONS, type IdempotencyModuleOptions } from './options.js';
import { IdempotencyRoutes } from './routes.js';

/**
 * Options of {@link IdempotencyModule.forRootAsync}: the module's options
 * from a factory, with the modules and providers it needs (a config
 * service, a Redis client).
 */
// biome-ignore lint/suspicious/noExplicitAny: the platform's request, as in IdempotencyModuleOptions.
export interface IdempotencyModuleAsyncOptions<Req = any> {
  /**
   * Modules whose exported providers the factory injects.
   * @default []
   */
  readonly imports?: ModuleMetadata['imports'];
  /**
   * Providers handed to the factory, in order.
   * @default []
   */
  readonly inject?: Array<InjectionToken | OptionalFactoryDependency>;
  /** Builds the module's options. */
  readonly useFactory: (
    ...args: never[]
  ) => IdempotencyModuleOptions<Req> | Promise<IdempotencyModuleOptions<Req>>;
}

/**
 * Idempotency-Key for a Nest application, on the Express and Fastify
 * platforms. Import it once, in the root module: it is global, and installs
 * {@link IdempotencyInterceptor} for every route. Routes marked
 * `@Idempotent()` are covered (every route with `allRoutes: true`).
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [IdempotencyModule.forRoot({ store: memoryStore(), scope: (req) => req.user.accountId })],
 *   controllers: [PaymentsController],
 * })
 * class AppModule {}
 * ```
 */
export class IdempotencyModule implements OnModuleInit {
  readonly #routes: IdempotencyRoutes;
  readonly #discovery: DiscoveryService;

  /** Nest creates the module; import it with {@link IdempotencyModule.forRoot} or {@link IdempotencyModule.forRootAsync}. */
  constructor(routes: IdempotencyRoutes, discovery: DiscoveryService) {
    this.#routes = routes;
    this.#discovery = discovery;
  }

  /** The module with these options. Throws `ConfigurationError` naming the fix for options that do not hold. */
  // biome-ignore lint/suspicious/noExplicitAny: the platform's request, as in IdempotencyModuleOptions.
  static forRoot<Req = any>(options: IdempotencyModuleOptions<Req>): DynamicModule {
    return dynamic({ provide: IDEMPOTENCY_OPTIONS, useValue: options }, []);
  }

  /** The module with options a factory builds, from injected providers. */
  // biome-ignore lint/suspicious/noExplicitAny: the platform's request, as in IdempotencyModuleOptions.
  static forRootAsync<Req = any>(options: IdempotencyModuleAsyncOptions<Req>): DynamicModule {
    return dynamic(
      {
        provide: IDEMPOTENCY_OPTIONS,
        useFactory: options.useFactory as (...args: unknown[]) => unknown,
        inject: options.inject ?? [],
      },
      options.imports ?? [],
    );
  }

  /**
   * Check every handler's `@Idempotent()` options at startup, so a route
   * whose options do not hold stops the application with a
   * `ConfigurationError` instead of answering 500 on its first request; and
   * refuse a second `IdempotencyModule` in the application, whose options
   * would cover nothing.
   */
  onModuleInit(): void {
    const modules = this.#discovery
      .getProviders()
      .filter(({ instance }) => instance instanceof IdempotencyRoutes);
    if (modules.length > 1) {
      throw new ConfigurationError(
        `idem: IdempotencyModule is imported ${modules.length} times with options of its own; only one would cover the routes. Import IdempotencyModule.forRoot() once, in the root module (it is global), and give routes options of their own with @Idempotent({...}).`,
      );
    }
    const scanner = new MetadataScanner();
    for (const { instance, metatype } of this.#discovery.getControllers()) {
      if (!instance || !metatype) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        this.#routes.of(metatype as abstract new () => unknown, prototype[name] as object);
      }
    }
  }
}

// Decorators applied as calls, as on IdempotencyInterceptor.
Module({})(IdempotencyModule);
Inject(IdempotencyRoutes)(IdempotencyModule, undefined, 0);
Inject(DiscoveryService)(IdempotencyModule, undefined, 1);

function dynamic(
  options: Provider,
  imports: NonNullable<ModuleMetadata['imports']>,
): DynamicModule {
  return {
    module: IdempotencyModule,
    global: true,
    imports: [DiscoveryModule, ...imports],
    providers: [
      options,
      {
        provide: IdempotencyRoutes,
        useFactory: (resolved: IdempotencyModuleOptions) => new IdempotencyRoutes(resolved),
        inject: [IDEMPOTENCY_OPTIONS],
      },
      IdempotencyInterceptor,
      { provide: APP_INTERCEPTOR, useExisting: IdempotencyInterceptor },
    ],
    exports: [IdempotencyRoutes, IdempotencyInterceptor],
  };
}
