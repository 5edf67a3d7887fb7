import type { IdempotencyLogger } from '@idem/core';

/** One line idem wrote to a {@link CapturedLog}'s logger. */
export interface LoggedLine {
  readonly level: 'warn' | 'error';
  /** The message and its details (errors by their message), on one line. */
  readonly text: string;
}

/** A logger to put in the options of a test server, and what idem wrote to it. */
export interface CapturedLog {
  readonly logger: IdempotencyLogger;
  readonly lines: readonly LoggedLine[];
}

const render = (value: unknown): string =>
  value instanceof Error ? `${value.name}: ${value.message}` : String(value);

/**
 * A logger that keeps what it is given instead of printing it: checks that
 * make idem log on purpose read it, and the test run stays quiet.
 */
export function captureLog(): CapturedLog {
  const lines: LoggedLine[] = [];
  const keep =
    (level: LoggedLine['level']) =>
    (message: string, ...details: unknown[]) => {
      lines.push({ level, text: [message, ...details].map(render).join(' ') });
    };
  return { logger: { warn: keep('warn'), error: keep('error') }, lines };
}
