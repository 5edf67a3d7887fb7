import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Invocation, type InvocationResult, RuntimeApi } from './runtime-api.js';

/**
 * A Lambda execution environment: a process started as `aws-lambda-ric`
 * (the registry package's bin) against its own {@link RuntimeApi}. The
 * harness enforces the timeout as Lambda does: at the deadline the process
 * is stopped and the caller gets a timeout; the next delivery starts a new
 * process (a cold start), as Lambda re-initialises an environment after a
 * timeout or a runtime exit.
 */

const require = createRequire(import.meta.url);
const RIC_BIN = join(dirname(require.resolve('aws-lambda-ric/package.json')), 'index.mjs');

/** A function as deployed: its bundle and configuration. */
export interface FunctionSpec {
  readonly name: string;
  /** LAMBDA_TASK_ROOT: the folder holding the bundled handler module. */
  readonly taskRoot: string;
  /** `_HANDLER`, e.g. `index.handler`. */
  readonly handler: string;
  /** The function's timeout, in ms. */
  readonly timeoutMs: number;
  /** Environment variables of the function. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A structured log line of the runtime (AWS_LAMBDA_LOG_FORMAT=JSON). */
export interface LogLine {
  readonly pid: number;
  readonly requestId?: string;
  readonly level?: string;
  readonly message: string;
  readonly at: number;
}

/** One delivery as the caller (the event source) saw it. */
export interface Delivery {
  readonly environment: number;
  readonly pid: number;
  readonly requestId: string;
  readonly deadlineMs: number;
  readonly sentAt: number;
  readonly endedAt: number;
  readonly result: InvocationResult;
}

/** What the harness does to a runtime whose invocation passed its deadline. */
export type OnTimeout =
  /** SIGKILL, as Lambda resets the environment. */
  | 'kill'
  /**
   * SIGSTOP: the process is kept aside, frozen mid-run, for a test to thaw
   * later and watch its late completion (a run that outlived its deadline).
   */
  | 'freeze';

/** One started runtime process and its Runtime API. */
interface Instance {
  readonly api: RuntimeApi;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  exit?: { code: number | null; signal: string | null };
}

export class Environment {
  readonly id: number;
  readonly spec: FunctionSpec;
  /** Every structured log line of every process this environment ran. */
  readonly logs: LogLine[];
  /** Processes frozen at a deadline (`onTimeout: 'freeze'`), oldest first. */
  readonly frozen: ChildProcess[] = [];
  /** Lines the processes wrote that were not structured logs (crashes, native output). */
  readonly stderr: string[] = [];
  #instance: Instance | undefined;
  #starting: Promise<Instance> | undefined;

  constructor(id: number, spec: FunctionSpec, logs: LogLine[]) {
    this.id = id;
    this.spec = spec;
    this.logs = logs;
  }

  /** The running process's id, if one runs. */
  get pid(): number | undefined {
    return this.#instance?.child.pid;
  }

  /** Start the process now rather than on the first delivery (a warm environment). */
  async warm(): Promise<void> {
    await this.#running();
  }

  /**
   * Deliver `event` and wait for the outcome. The deadline starts when the
   * runtime receives the event; past it the process is killed (or frozen)
   * and the delivery ends as a timeout.
   */
  async invoke(event: unknown, options: { onTimeout?: OnTimeout } = {}): Promise<Delivery> {
    if (this.#busy)
      throw new Error(`environment ${this.id} runs one invocation at a time, as on Lambda`);
    this.#busy = true;
    try {
      return await this.#invoke(event, options.onTimeout ?? 'kill');
    } finally {
      this.#busy = false;
    }
  }

  #busy = false;

  async #invoke(event: unknown, onTimeout: OnTimeout): Promise<Delivery> {
    const instance = await this.#running();
    const sentAt = Date.now();
    let invocation: Invocation | undefined;
    let timer: NodeJS.Timeout | undefined;
    instance.api.onDispatch = (received) => {
      invocation = received;
      timer = setTimeout(
        () => this.#timeout(instance, onTimeout),
        received.deadlineMs - Date.now(),
      );
    };
    const result = await instance.api.invoke(event, this.spec.timeoutMs);
    clearTimeout(timer);
    return {
      environment: this.id,
      pid: instance.child.pid ?? -1,
      requestId: invocation?.requestId ?? '',
      deadlineMs: invocation?.deadlineMs ?? 0,
      sentAt,
      endedAt: Date.now(),
      result,
    };
  }

  /** Kill the process now (SIGKILL), mid-run if it is running one: the delivery ends as an exit. */
  kill(): void {
    this.#instance?.child.kill('SIGKILL');
  }

  /** Let the oldest frozen process run on. */
  thaw(): ChildProcess | undefined {
    const child = this.frozen.shift();
    child?.kill('SIGCONT');
    return child;
  }

  async close(): Promise<void> {
    for (const child of this.frozen.splice(0)) child.kill('SIGKILL');
    const instance = this.#instance;
    this.#instance = undefined;
    if (instance) {
      instance.child.kill('SIGKILL');
      await instance.exited;
      await instance.api.close();
    }
  }

  #timeout(instance: Instance, onTimeout: OnTimeout): void {
    if (this.#instance !== instance) return;
    // A fresh process serves the next delivery either way, as after a Lambda timeout.
    this.#instance = undefined;
    if (onTimeout === 'freeze') {
      instance.child.kill('SIGSTOP');
      this.frozen.push(instance.child);
    } else {
      instance.child.kill('SIGKILL');
    }
    instance.api.abandon({ kind: 'timeout' });
  }

  async #running(): Promise<Instance> {
    if (this.#instance && !this.#instance.exit) return this.#instance;
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #start(): Promise<Instance> {
    const api = await RuntimeApi.start(this.spec.name);
    const child = spawn(process.execPath, [RIC_BIN, this.spec.handler], {
      cwd: this.spec.taskRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        TZ: ':UTC',
        LANG: 'en_US.UTF-8',
        AWS_LAMBDA_RUNTIME_API: api.address,
        LAMBDA_TASK_ROOT: this.spec.taskRoot,
        _HANDLER: this.spec.handler,
        AWS_LAMBDA_FUNCTION_NAME: this.spec.name,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
        AWS_LAMBDA_FUNCTION_TIMEOUT: String(Math.ceil(this.spec.timeoutMs / 1000)),
        AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.spec.name}`,
        AWS_LAMBDA_LOG_STREAM_NAME: `2026/01/01/[$LATEST]${this.id}`,
        AWS_LAMBDA_LOG_FORMAT: 'JSON',
        AWS_REGION: 'us-east-1',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...this.spec.env,
      },
    });
    const pid = child.pid ?? -1;
    const instance: Instance = {
      api,
      child,
      exited: new Promise<void>((resolve) => {
        child.on('exit', (code, signal) => {
          instance.exit = { code, signal };
          // Lambda's Runtime.ExitError: the process died during an invocation.
          api.abandon({ kind: 'exit', code, signal });
          if (this.#instance === instance) this.#instance = undefined;
          resolve();
        });
      }),
    };
    instance.exited.then(() => {
      // A frozen process's API stays open until it exits, so its late answer finds it.
      void api.close();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.#log(pid, line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.#log(pid, line));
    this.#instance = instance;
    return instance;
  }

  #log(pid: number, line: string): void {
    const at = Date.now();
    let entry: { requestId?: string; level?: string; message?: unknown } | undefined;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = undefined;
    }
    if (entry && typeof entry === 'object' && 'message' in entry) {
      this.logs.push({
        pid,
        at,
        message: String(entry.message),
        ...(entry.requestId ? { requestId: entry.requestId } : {}),
        ...(entry.level ? { level: entry.level } : {}),
      });
    } else {
      this.stderr.push(`[env ${this.id} pid ${pid}] ${line}`);
    }
  }
}
