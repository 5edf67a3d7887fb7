import { ConfigurationError, type Rule, rule } from '@idem/core/store';

/** The table `postgresStore` uses when none is given. */
export const DEFAULT_TABLE = 'idem_records';

// Unquoted PostgreSQL identifiers only: nothing to escape, so nothing to inject.
// 48 characters leave room for the index name derived from the table's.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/** A validated table name: the quoted SQL form and the bare name (for index names). */
export interface TableName {
  /** `"schema"."table"` or `"table"`, ready to splice into SQL. */
  readonly sql: string;
  /** The unqualified table name. */
  readonly name: string;
}

const isTable = (table: unknown): table is string =>
  typeof table === 'string' &&
  table.split('.').length <= 2 &&
  table.split('.').every((p) => IDENTIFIER.test(p));

/** The `table` option: `name` or `schema.name`, unquoted identifiers only. */
export const tableRule: Rule<string> = rule(
  'a plain identifier or schema.identifier (letters, digits and _, at most 48 characters each)',
  isTable,
);

/**
 * Validate and quote `table` (`name` or `schema.name`), refusing anything else.
 * @param where Names the entry point in the error.
 * @default where 'idem: schemaSql()'
 */
export function tableName(table: string, where = 'idem: schemaSql()'): TableName {
  if (!isTable(table)) {
    throw new ConfigurationError(
      `${where}: table must be ${tableRule.expects}, got ${JSON.stringify(table)}.`,
    );
  }
  const parts = table.split('.');
  return { sql: parts.map((p) => `"${p}"`).join('.'), name: parts[parts.length - 1]! };
}

/**
 * The DDL of the store's table and its expiry index, for your own migrations.
 * Idempotent (`IF NOT EXISTS`); `postgresStore(...).migrate()` runs the same
 * statements. The package's `schema.sql` is this for the default table.
 *
 * @param table Table name, optionally schema-qualified (`idem.records`).
 * @default table 'idem_records'
 */
export function schemaSql(table: string = DEFAULT_TABLE): string {
  const t = tableName(table);
  return `-- Idempotency records of @idem/store-postgres: one row per store key.
CREATE TABLE IF NOT EXISTS ${t.sql} (
  -- The store key: 'idem1:' and a digest of scope and idempotency key.
  key         text        PRIMARY KEY,
  -- Digest of the request that claimed the key.
  fingerprint text        NOT NULL,
  state       text        NOT NULL CHECK (state IN ('in_progress', 'completed')),
  -- Owner (fencing) token while in progress; NULL once completed.
  token       text,
  -- Live until: the lease deadline while in progress, the expiry once completed.
  -- A row past it is treated as absent at once and deleted by purgeExpired().
  expires_at  timestamptz NOT NULL,
  -- The stored response, once completed.
  status      integer,
  headers     jsonb,
  body        bytea,
  CHECK (state = 'in_progress' AND token IS NOT NULL
      OR state = 'completed' AND status IS NOT NULL AND headers IS NOT NULL AND body IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS "${t.name}_expires_at_idx" ON ${t.sql} (expires_at);
`;
}
