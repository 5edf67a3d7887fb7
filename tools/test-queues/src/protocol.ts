/** The two moments where a consumer's crash matters. */
export type CrashPoint = 'after-write' | 'before-ack';

/** How a consumer settled one delivery (the shape both example consumers report). */
export interface SettledEvent {
  readonly messageId: string | undefined;
  readonly action: 'ack' | 'retry' | 'dead-letter';
  readonly status?: 'executed' | 'replayed';
  readonly reason?: string;
  readonly deliveries: number;
}

/** What a consumer process tells the test. */
export type FromChild =
  /** Loaded and listening: it can be sent `start`. */
  | { readonly t: 'standby' }
  /** Consuming. */
  | { readonly t: 'ready' }
  | {
      readonly t: 'checkpoint';
      readonly n: number;
      readonly point: CrashPoint;
      readonly id: string;
    }
  | { readonly t: 'settled'; readonly settled: SettledEvent };

/** What the test tells a consumer process. */
export type ToChild =
  /** Take messages (a process is forked ahead, as a standby, and waits for this). */
  | { readonly t: 'start' }
  /** Go on from checkpoint `n`. */
  | { readonly t: 'go'; readonly n: number }
  | { readonly t: 'stop' };
