import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Store } from '@idem/core/store';
import type {
  FromChild,
  PlainError,
  StoreMethod,
  StoreProcess,
  StoreProcesses,
  ToChild,
} from './remote.js';

/** Options of {@link childProcesses}. */
export interface ChildProcessesOptions {
  /**
   * What the module's `serveStore(open)` gets as `open`'s input (a file
   * path, a URL, a table name): structured-cloneable data.
   * @default undefined
   */
  readonly input?: unknown;
  /**
   * How many processes race beside the test's own.
   * @default 2
   */
  readonly count?: number;
  /**
   * Node's flags for the processes. A TypeScript module needs a loader, e.g.
   * `['--import', 'tsx']`.
   * @default []
   */
  readonly execArgv?: readonly string[];
  /**
   * How long a process may take to start and open its store, in ms.
   * @default 30000
   */
  readonly startTimeoutMs?: number;
}

/**
 * Stores in child processes for the `connections` checks (the `processes`
 * option): each process runs `module`, which calls `serveStore(open)` from
 * `@idem/conformance/store/checks` to open its own store over the same
 * records; the check sends it store calls over IPC while this process and
 * the others send theirs.
 *
 * @param module The module's path or `file:` URL.
 */
export function childProcesses(
  module: string | URL,
  options: ChildProcessesOptions = {},
): StoreProcesses {
  const path = module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : module;
  return {
    count: options.count ?? 2,
    start: (index) => startChild(path, index, options),
  };
}

async function startChild(
  path: string,
  index: number,
  options: ChildProcessesOptions,
): Promise<StoreProcess> {
  const child = spawn(process.execPath, [...(options.execArgv ?? []), path], {
    // Structured clone keeps the Uint8Array bodies the store calls carry.
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const name = `child process ${index + 1} (pid ${child.pid})`;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let exited: string | undefined;
  const onExit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `${name} exited (${signal ?? `code ${code}`})`;
      for (const p of pending.values()) p.reject(new Error(`${exited} with a call in flight`));
      pending.clear();
      resolve();
    });
  });
  child.on('error', () => {}); // a failed spawn also exits; the exit says so

  const ready = new Promise<number | undefined>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not open its store within its startTimeoutMs`)),
      options.startTimeoutMs ?? 30_000,
    );
    child.on('message', (message: FromChild) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message.maxResponseBytes);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(revive(message.error, `${name} could not open its store`));
      } else {
        const p = pending.get(message.id);
        pending.delete(message.id);
        if ('error' in message) p?.reject(revive(message.error));
        else p?.resolve(message.value);
      }
    });
    void onExit.then(() => {
      clearTimeout(timer);
      reject(
        new Error(
          `${exited} before its store was open: does ${path} call serveStore(open), and does Node load it with execArgv ${JSON.stringify(options.execArgv ?? [])} (TypeScript needs a loader such as ['--import', 'tsx'])?`,
        ),
      );
    });
  });
  const post = (message: ToChild) => child.send(message);
  post({ type: 'open', input: options.input });
  let maxResponseBytes: number | undefined;
  try {
    maxResponseBytes = await ready;
  } catch (error) {
    child.kill();
    throw error;
  }

  let next = 0;
  const call =
    (method: StoreMethod) =>
    (...args: unknown[]): Promise<never> =>
      new Promise((resolve, reject) => {
        if (exited) return reject(new Error(exited));
        const id = next++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        post({ type: 'call', id, method, args });
      });
  const store: Store = {
    claim: call('claim'),
    complete: call('complete'),
    release: call('release'),
    renew: call('renew'),
    read: call('read'),
    remove: call('remove'),
    ...(maxResponseBytes === undefined ? {} : { maxResponseBytes }),
  };
  return {
    store,
    name,
    claimAll: (claims) => call('claimAll')(claims),
    async close() {
      if (exited) return;
      post({ type: 'close' });
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await onExit;
      clearTimeout(killer);
    },
  };
}

function revive(plain: PlainError, context?: string): Error {
  const error = new Error(context ? `${context}: ${plain.message}` : plain.message);
  error.name = plain.name;
  if (plain.code !== undefined) Object.assign(error, { code: plain.code });
  return error;
}
