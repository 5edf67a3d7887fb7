import { ConfigurationError, type Rule, rule } from '@idem/core/store';

/** The table `d1Store` uses when none is given. */
export const DEFAULT_TABLE = 'idem_records';

// Plain SQLite identifiers only: nothing to escape, so nothing to inject. 48
// characters leave room for the index name derived from the table's.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;
// D1 keeps its own tables under `_cf_`; SQLite reserves `sqlite_`.
const RESERVED = /^(_cf_|sqlite_)/i;

const isTable = (table: unknown): table is string =>
  typeof table === 'string' && IDENTIFIER.test(table) && !RESERVED.test(table);

/** The `table` option: a plain identifier D1 allows. */
export const tableRule: Rule<string> = rule(
  'a plain identifier (letters, digits and _, at most 48 characters, not starting with _cf_ or sqlite_)',
  isTable,
);

/**
 * Validate `table`, refusing anything that is not a plain identifier D1 allows.
 * @param where Names the entry point in the error.
 * @default where 'idem: schemaSql()'
 */
export function tableName(table: string, where = 'idem: schemaSql()'): string {
  if (!isTable(table)) {
    throw new ConfigurationError(
      `${where}: table must be ${tableRule.expects}, got ${JSON.stringify(table)}.`,
    );
  }
  return table;
}

/** The DDL as separate statements, for `migrate()`'s batch. */
export function schemaStatements(table: string = DEFAULT_TABLE): string[] {
  const t = tableName(table);
  return [
    // The columns are explained in the README; the DDL stays bare, as it ships in Workers' bundles.
    `CREATE TABLE IF NOT EXISTS "${t}" (
  key TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('in_progress', 'completed')),
  token TEXT,
  expires_at INTEGER NOT NULL,
  status INTEGER,
  headers TEXT,
  body BLOB,
  CHECK (state = 'in_progress' AND token IS NOT NULL
    OR state = 'completed' AND status IS NOT NULL AND headers IS NOT NULL AND body IS NOT NULL)
);`,
    `CREATE INDEX IF NOT EXISTS "${t}_expires_at_idx" ON "${t}" (expires_at);`,
  ];
}

/**
 * The DDL of the store's table and its expiry index, for your own migrations
 * (`wrangler d1 migrations`). Idempotent (`IF NOT EXISTS`);
 * `d1Store(...).migrate()` runs the same statements. The package's
 * `schema.sql` and `migrations/0001_idem_records.sql` are this for the default table.
 *
 * @param table The table name.
 * @default table 'idem_records'
 */
export function schemaSql(table: string = DEFAULT_TABLE): string {
  return `-- @idem/store-d1: one row per store key (see the package's README).\n${schemaStatements(table).join('\n')}\n`;
}
