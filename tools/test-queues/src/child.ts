import type { CrashPoint, FromChild, SettledEvent, ToChild } from './protocol.js';

/** A consumer process's line to the test that forked it. */
export interface ParentLink {
  /** The consumer's name, given by the test (`consumer-1`, …). */
  readonly name: string;
  /** Wait at a crash point until the test lets the process go on (or kills it there). */
  checkpoint(point: CrashPoint, messageId: string): Promise<void>;
  /** Report a settled delivery. */
  settled(settled: SettledEvent): void;
  /** Tell the test the consumer is taking messages. */
  ready(): void;
  /**
   * Resolves when the test puts this process to work. Until then it is a
   * standby, forked ahead so a killed consumer's replacement need not load:
   * it may connect, but must take no messages.
   */
  readonly started: Promise<void>;
  /** Resolves when the test asks the consumer to stop. */
  readonly stop: Promise<void>;
}

/** The IPC link of a consumer process forked by `crashRun`. */
export function parentLink(): ParentLink {
  const send = process.send?.bind(process);
  if (send === undefined)
    throw new Error('run this file through crashRun (it needs an IPC channel)');
  const tell = (message: FromChild) => send(message);
  const waiting = new Map<number, () => void>();
  let stopRequested!: () => void;
  const stop = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  let startRequested!: () => void;
  let isStarted = false;
  const started = new Promise<void>((resolve) => {
    startRequested = resolve;
  });
  process.on('message', (message: ToChild) => {
    if (message.t === 'go') {
      waiting.get(message.n)?.();
      waiting.delete(message.n);
    } else if (message.t === 'start') {
      isStarted = true;
      startRequested();
    } else if (isStarted) stopRequested();
    else process.exit(0); // a standby never used: it holds no messages
  });
  // The test died: do not linger as an orphan holding connections.
  process.on('disconnect', () => process.exit(1));
  tell({ t: 'standby' });
  let n = 0;
  return {
    name: process.env.CONSUMER_NAME ?? 'consumer',
    checkpoint(point, id) {
      const mine = ++n;
      return new Promise((resolve) => {
        waiting.set(mine, resolve);
        tell({ t: 'checkpoint', n: mine, point, id });
      });
    },
    settled: (settled) => tell({ t: 'settled', settled }),
    ready: () => tell({ t: 'ready' }),
    started,
    stop,
  };
}
