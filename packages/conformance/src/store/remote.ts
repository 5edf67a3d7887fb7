import type { ClaimRequest, ClaimResult, Store } from '@idem/core/store';

/** A store running in another process, driven from this one. */
export interface StoreProcess {
  /** Each call is sent to the process and performed there by its own store. */
  readonly store: Store;
  /**
   * Sends all the claims in one message; the process starts them all at once
   * and answers their results in order. Claims sent one message each reach a
   * process too slowly to race a synchronous driver in another.
   */
  claimAll(claims: readonly (readonly [string, ClaimRequest])[]): Promise<ClaimResult[]>;
  /** Names it in failures, e.g. `'child process 2 (pid 4711)'`. */
  readonly name: string;
  /** Asks the process to close its store and exit, and waits for it. */
  close(): Promise<void>;
}

/**
 * How the `connections` checks start stores in other processes: build it
 * with `childProcesses(module, ...)` from `@idem/conformance/store`.
 */
export interface StoreProcesses {
  /** How many processes race beside this one. */
  readonly count: number;
  /** Starts one process and opens its store. */
  start(index: number): Promise<StoreProcess>;
}

/** What the parent sends to a process that serves a store. */
export type ToChild =
  | { readonly type: 'open'; readonly input: unknown }
  | {
      readonly type: 'call';
      readonly id: number;
      readonly method: StoreMethod;
      readonly args: unknown[];
    }
  | { readonly type: 'close' };

/** What a process that serves a store answers. */
export type FromChild =
  | { readonly type: 'ready'; readonly maxResponseBytes: number | undefined }
  | { readonly type: 'failed'; readonly error: PlainError }
  | { readonly type: 'reply'; readonly id: number; readonly value: unknown }
  | { readonly type: 'reply'; readonly id: number; readonly error: PlainError };

/** The store methods a process serves, and `claimAll` (see {@link StoreProcess.claimAll}). */
export type StoreMethod =
  | 'claim'
  | 'complete'
  | 'release'
  | 'renew'
  | 'read'
  | 'remove'
  | 'claimAll';

/** An error as it crosses the process boundary: its `code` kept, so `isIdempotencyError` still matches. */
export interface PlainError {
  readonly name: string;
  readonly message: string;
  readonly code?: unknown;
}

/** An error as plain data. */
export function plainError(error: unknown): PlainError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(code === undefined ? {} : { code }) };
}

interface IpcProcess {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: ToChild) => void): unknown;
  disconnect?(): void;
  exit(code?: number): never;
}

/**
 * Serve a store to the `connections` checks from a process that
 * `childProcesses(module, ...)` started: call it in that module, with how to
 * open the store from the `input` given to `childProcesses`. The store is
 * opened on a connection of this process's own, over the same records as the
 * test's; every call the check sends is performed by it here.
 *
 * ```ts
 * // test/store-process.ts
 * import { serveStore } from '@idem/conformance/store/checks';
 * serveStore((input) => sqliteStore({ file: (input as { file: string }).file }));
 * ```
 *
 * @param open Opens the store, given the `input` of `childProcesses`.
 * @param close Closes what `open` opened, before the process exits.
 */
export function serveStore(
  open: (input: unknown) => Store | Promise<Store>,
  close?: (store: Store) => Promise<void> | void,
): void {
  // Read through globalThis: this module also runs where no `process` exists (a Worker bundle).
  const host = (globalThis as { process?: IpcProcess }).process;
  const send = host?.send?.bind(host);
  if (!host || !send) {
    throw new Error(
      'serveStore: this process has no IPC channel to a parent; start it with childProcesses(module, ...) from @idem/conformance/store',
    );
  }
  let store: Promise<Store> | undefined;
  host.on('message', (message) => {
    if (message.type === 'open') {
      store = Promise.resolve().then(() => open(message.input));
      store.then(
        (s) => send({ type: 'ready', maxResponseBytes: s.maxResponseBytes } satisfies FromChild),
        (error) => send({ type: 'failed', error: plainError(error) } satisfies FromChild),
      );
    } else if (message.type === 'call') {
      const { id, method, args } = message;
      (store ?? Promise.reject(new Error('serveStore: a call came before open')))
        .then((s) => {
          if (method === 'claimAll') {
            const claims = args[0] as [string, ClaimRequest][];
            return Promise.all(claims.map(([key, request]) => s.claim(key, request)));
          }
          const call = s[method] as ((...a: unknown[]) => Promise<unknown>) | undefined;
          if (!call) throw new Error(`serveStore: the store has no ${method}()`);
          return call.apply(s, args);
        })
        .then(
          (value) => send({ type: 'reply', id, value } satisfies FromChild),
          (error) => send({ type: 'reply', id, error: plainError(error) } satisfies FromChild),
        );
    } else if (message.type === 'close') {
      void (async () => {
        try {
          if (store && close) await close(await store);
        } finally {
          host.disconnect?.();
          host.exit(0);
        }
      })();
    }
  });
}
