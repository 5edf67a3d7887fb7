/**
 * `@idem/test-pressure`: CPU pressure for chaos and race tests.
 * Production servers are busy: timers fire late, socket events queue up
 * behind other work and replies are read long after they arrived. A test
 * that passes only on an idle machine proves nothing about that, so the
 * chaos tests run with busy worker threads beside them (one per core by
 * default) and with the test's own event loop stalled now and then, as a
 * loaded Node process is.
 *
 * ```ts
 * const pressure = cpuPressure();
 * try { await storm(); } finally { await pressure.stop(); }
 * console.log(pressure.summary());
 * ```
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Options of {@link cpuPressure}. */
export interface CpuPressureOptions {
  /**
   * Busy worker threads, each spinning a core.
   * @default availableParallelism() (every core)
   */
  readonly workers?: number;
  /**
   * Longest synchronous stall of this thread's event loop, in ms; stalls
   * of up to this long are injected every `stallEveryMs` (0: none).
   * @default 40
   */
  readonly stallMs?: number;
  /**
   * How often the event loop is stalled, in ms.
   * @default 100
   */
  readonly stallEveryMs?: number;
}

/** Pressure in force until `stop()`. */
export interface CpuPressure {
  /** End the pressure: the workers are terminated and the stalls stop. */
  stop(): Promise<void>;
  /** What was applied, for the test log: workers, stalls, the event loop's worst lateness. */
  summary(): string;
  /** The worst lateness of this thread's event loop seen so far, in ms. */
  readonly worstLagMs: number;
}

// Spins until told to stop; a message port check every few ms keeps it stoppable.
const SPIN = `
const { parentPort } = require('node:worker_threads');
let stop = false;
parentPort.on('message', () => { stop = true; });
function spin() {
  const until = Date.now() + 50;
  let x = 0;
  while (Date.now() < until) x = (x * 31 + 7) % 1000003;
  if (!stop) setImmediate(spin);
}
spin();
`;

/** Start CPU pressure: busy worker threads and event-loop stalls on this thread. */
export function cpuPressure(options: CpuPressureOptions = {}): CpuPressure {
  const count = options.workers ?? availableParallelism();
  const stallMs = options.stallMs ?? 40;
  const stallEveryMs = options.stallEveryMs ?? 100;
  const workers = Array.from({ length: count }, () => new Worker(SPIN, { eval: true }));
  for (const worker of workers) worker.unref();
  let stalls = 0;
  let worstLagMs = 0;
  let expected = Date.now() + 10;
  const lag = setInterval(() => {
    const now = Date.now();
    worstLagMs = Math.max(worstLagMs, now - expected);
    expected = now + 10;
  }, 10);
  const stall =
    stallMs > 0
      ? setInterval(() => {
          const until = Date.now() + Math.random() * stallMs;
          while (Date.now() < until) {
            // a synchronous stretch of work, as a busy request handler has
          }
          stalls++;
        }, stallEveryMs)
      : undefined;
  lag.unref();
  stall?.unref();
  return {
    get worstLagMs() {
      return worstLagMs;
    },
    async stop() {
      clearInterval(lag);
      if (stall) clearInterval(stall);
      for (const worker of workers) worker.postMessage('stop');
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
    summary: () =>
      `CPU pressure: ${count} busy worker thread(s), ${stalls} event-loop stall(s) of up to ${stallMs} ms, worst event-loop lag ${worstLagMs} ms`,
  };
}
