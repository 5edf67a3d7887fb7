import type pg from 'pg';

/** What a message asks for: credit `amountCents` to `account`. */
export interface Credit {
  readonly account: string;
  readonly amountCents: number;
}

/**
 * The consumer's side effect: one ledger row per credit. There is
 * deliberately no unique constraint on `message_id`, so a message applied
 * twice would show as two rows; idem is what keeps it to one. The CHECK
 * makes a credit of zero or less a message that fails every time (poison).
 */
export async function createLedger(pool: pg.Pool, table: string): Promise<void> {
  await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
    id           bigserial   PRIMARY KEY,
    message_id   text        NOT NULL,
    account      text        NOT NULL,
    amount_cents integer     NOT NULL CHECK (amount_cents > 0),
    applied_by   text        NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now()
  )`);
}

/** The message body as a credit, or `undefined` if it is not one. */
export function parseCredit(bytes: Uint8Array): Credit | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Credit>;
    if (typeof value.account !== 'string' || !Number.isInteger(value.amountCents)) return undefined;
    return { account: value.account, amountCents: value.amountCents! };
  } catch {
    return undefined;
  }
}
