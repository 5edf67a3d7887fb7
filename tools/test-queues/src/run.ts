import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { CrashPoint, FromChild, SettledEvent, ToChild } from './protocol.js';

/** Options of {@link crashRun}. */
export interface CrashRunOptions {
  /** The consumer process: a TypeScript file that uses `parentLink()`. */
  readonly child: string;
  /** Its environment, on top of this process's. */
  readonly env: Readonly<Record<string, string>>;
  /** Every message id published: the run ends when each was acked. */
  readonly ids: readonly string[];
  /** Consumer processes running at once (killed ones are replaced). */
  readonly consumers: number;
  /** Where to kill, in order: kill `i` happens at the first such checkpoint past `(i + 1) * spacing` checkpoints. */
  readonly kills: readonly CrashPoint[];
  /** Checkpoints between two kills. */
  readonly spacing: number;
  /** @default 45_000 */
  readonly timeoutMs?: number;
}

/** One SIGKILL: where, which message, which process. */
export interface Kill {
  readonly point: CrashPoint;
  readonly messageId: string;
  readonly consumer: string;
}

/** What a run saw. */
export interface CrashRun {
  /** Consumer processes started, replacements included. */
  readonly processes: number;
  readonly kills: readonly Kill[];
  /** Every delivery a consumer settled, in order, with the consumer's name. */
  readonly settled: ReadonlyArray<SettledEvent & { readonly consumer: string }>;
}

/** A consumer process and where it is: loading, a standby, or started. */
interface Forked {
  readonly name: string;
  readonly child: ChildProcess;
  /** It is listening (sent `standby`). */
  standby: boolean;
  /** The test put it to work (it is sent `start` once listening). */
  started: boolean;
}

// tsx (the workspace's TypeScript runner) loads the consumer from source, as vitest does.
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Run consumers until every message is acked, killing them at the planned crash points. */
export function crashRun(options: CrashRunOptions): Promise<CrashRun> {
  const { ids, kills: plan, spacing } = options;
  const pending = new Set(ids);
  const kills: Kill[] = [];
  const settled: Array<SettledEvent & { consumer: string }> = [];
  const live = new Map<string, ChildProcess>();
  const killed = new Set<string>();
  let spare: Forked | undefined;
  let forked = 0;
  let processes = 0;
  let checkpoints = 0;
  let stopping = false;

  return new Promise<CrashRun>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        end(
          new Error(
            `crashRun timed out: ${ids.length - pending.size} of ${ids.length} messages acked, ${kills.length} of ${plan.length} kills, e.g. still pending: ${[...pending].slice(0, 3).join(', ')}`,
          ),
        ),
      options.timeoutMs ?? 45_000,
    );

    /** Fork a consumer process; it loads, then waits as a standby until {@link start}. */
    function forkConsumer(): Forked {
      const name = `consumer-${++forked}`;
      const child = fork(options.child, [], {
        env: { ...process.env, ...options.env, CONSUMER_NAME: name },
        execArgv: ['--conditions=@idem/source', '--import', tsx],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const f: Forked = { name, child, standby: false, started: false };
      live.set(name, child);
      child.on('error', () => {}); // a send to a process just killed
      child.on('exit', (code, signal) => {
        live.delete(name);
        if (!killed.has(name) && !stopping) {
          end(new Error(`${name} exited on its own (code ${code}, signal ${signal})`));
        }
      });
      const send = (message: ToChild) => {
        if (child.connected) child.send(message, () => {});
      };
      child.on('message', (message: FromChild) => {
        if (message.t === 'ready') {
          // The next replacement loads while this one works, not while it
          // loads too; and only if a kill is still planned, so no more
          // processes load than without standbys.
          if (spare === undefined && !stopping && kills.length < plan.length) {
            spare = forkConsumer();
          }
        } else if (message.t === 'standby') {
          f.standby = true;
          if (f.started) send({ t: 'start' });
        } else if (message.t === 'checkpoint') {
          checkpoints++;
          const due = plan[kills.length] === message.point;
          if (due && !stopping && checkpoints >= (kills.length + 1) * spacing) {
            killed.add(name);
            child.kill('SIGKILL');
            kills.push({ point: message.point, messageId: message.id, consumer: name });
            start();
          } else send({ t: 'go', n: message.n });
        } else if (message.t === 'settled') {
          settled.push({ ...message.settled, consumer: name });
          const { action, messageId } = message.settled;
          if (action === 'ack' && messageId !== undefined) pending.delete(messageId);
          if (pending.size === 0) end();
        }
      });
      return f;
    }

    /**
     * Put a consumer to work: the standby forked ahead if there is one (a
     * replacement then takes over at once, not after loading), or a new one.
     */
    function start(): void {
      const f = spare ?? forkConsumer();
      spare = undefined;
      processes++;
      f.started = true;
      if (f.standby && f.child.connected) f.child.send({ t: 'start' } satisfies ToChild, () => {});
    }

    async function end(error?: Error): Promise<void> {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      // The standby holds no messages (and may not listen yet).
      spare?.child.kill('SIGKILL');
      // Stop gracefully (a consumer flushes its acks and closes), then make sure.
      await Promise.all(
        [...live.values()].map(
          (child) =>
            new Promise<void>((exited) => {
              if (child.exitCode !== null || child.signalCode !== null) return exited();
              const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
              child.on('exit', () => {
                clearTimeout(force);
                exited();
              });
              if (child.connected) child.send({ t: 'stop' } satisfies ToChild, () => {});
              else child.kill('SIGKILL');
            }),
        ),
      );
      if (error) reject(error);
      else resolve({ processes, kills, settled });
    }

    for (let i = 0; i < options.consumers; i++) start();
  });
}
