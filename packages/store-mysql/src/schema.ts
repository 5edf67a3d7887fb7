import { ConfigurationError, type Rule, rule } from '@idem/core/store';
import type { Pool } from 'mysql2/promise';
import { errno } from './config.js';

/** The table `mysqlStore` uses when none is given. */
export const DEFAULT_TABLE = 'idem_records';

// Unquoted identifiers only: nothing to escape, so nothing to inject. 48
// characters leave room for the procedure names derived from the table's
// (MySQL and MariaDB allow 64).
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/**
 * The database clock in epoch milliseconds. UTC_TIMESTAMP() is fixed for the
 * whole statement (like NOW(), unlike SYSDATE()), and the difference of two
 * DATETIMEs involves no time zone: UNIX_TIMESTAMP(NOW(3)) goes through the
 * session time zone and is an hour off in the repeated hour of a DST change.
 */
export const NOW_MS =
  "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";

/** The quoted names of the table and of its stored procedures. */
export interface Names {
  /** The name as given: `table` or `database.table`. */
  readonly table: string;
  /** `` `database`.`table` `` or `` `table` ``, ready to splice into SQL. */
  readonly sql: string;
  /** The unqualified table name, for the advisory lock of migrate(). */
  readonly bare: string;
  /** Stored procedures, named after the table; the suffix is their version. */
  readonly claim: string;
  readonly begin: string;
  readonly commit: string;
}

const isTable = (table: unknown): table is string =>
  typeof table === 'string' &&
  table.split('.').length <= 2 &&
  table.split('.').every((p) => IDENTIFIER.test(p));

/** The `table` option: `name` or `database.name`, unquoted identifiers only. */
export const tableRule: Rule<string> = rule(
  'a plain identifier or database.identifier (letters, digits and _, at most 48 characters each)',
  isTable,
);

/**
 * Validate and quote `table` (`name` or `database.name`), refusing anything else.
 * @param where Names the entry point in the error.
 * @default where 'idem: schemaSql()'
 */
export function names(table: string, where = 'idem: schemaSql()'): Names {
  if (!isTable(table)) {
    throw new ConfigurationError(
      `${where}: table must be ${tableRule.expects}, got ${JSON.stringify(table)}.`,
    );
  }
  const parts = table.split('.');
  const quote = (name: string) => [...parts.slice(0, -1), name].map((p) => `\`${p}\``).join('.');
  const bare = parts[parts.length - 1]!;
  return {
    table,
    sql: quote(bare),
    bare,
    claim: quote(`${bare}_claim_v2`),
    begin: quote(`${bare}_begin_v1`),
    commit: quote(`${bare}_commit_v1`),
  };
}

/** The savepoint `begin` sets: it exists exactly while the transaction begin() started does. */
const GUARD = 'idem_transaction';

/** `expr` if the record is expired (lease or expiry passed), else the column unchanged. */
const ifExpired = (column: string, expr: string) =>
  `${column} = IF(expires_at <= ${NOW_MS}, ${expr}, ${column})`;

/** The table's DDL, idempotent. */
export function tableDdl(n: Names): string {
  return `CREATE TABLE IF NOT EXISTS ${n.sql} (
  -- The store key: 'idem1:' and a digest of scope and idempotency key; bytes, compared exactly.
  \`key\`       VARBINARY(255) NOT NULL PRIMARY KEY,
  -- Digest of the request that claimed the key.
  fingerprint VARBINARY(255) NOT NULL,
  state       ENUM('in_progress', 'completed') NOT NULL,
  -- Owner (fencing) token while in progress; NULL once completed.
  token       VARBINARY(255) NULL,
  -- Live until, in epoch milliseconds of the database clock: the lease
  -- deadline while in progress, the expiry once completed. A row past it is
  -- treated as absent at once and deleted by purgeExpired().
  expires_at  BIGINT         NOT NULL,
  -- The stored response, once completed: headers as UTF-8 JSON [[name, value], ...].
  status      INT            NULL,
  headers     MEDIUMBLOB     NULL,
  body        LONGBLOB       NULL,
  KEY expires_at_idx (expires_at),
  CHECK (state = 'in_progress' AND token IS NOT NULL
      OR state = 'completed' AND status IS NOT NULL AND headers IS NOT NULL AND body IS NOT NULL)
) ENGINE = InnoDB`;
}

/** The stored procedures' CREATE statements (each one statement, no DELIMITER needed). */
export function procedures(n: Names): Array<{ readonly name: string; readonly sql: string }> {
  const security = 'MODIFIES SQL DATA SQL SECURITY INVOKER';
  // On any error: roll back what the procedure began, and hand the error on.
  const onError = 'DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;';
  return [
    {
      name: n.claim,
      // One round trip, and a replay writes nothing and locks nothing.
      //
      // 1. A plain (consistent, non-locking) read. When it sees a live row,
      //    that row was the newest committed version when the read's
      //    snapshot was taken, during this call, and was live by the clock
      //    of that statement: answering from it is linearised at the read.
      //    A row that commits just after the snapshot is simply not seen;
      //    that read then decides nothing but "go on", and the steps below
      //    judge the newest version. The read is the procedure's first
      //    statement and runs in autocommit (the store's statements all
      //    rely on autocommit, the server's default), so it takes a fresh
      //    snapshot under READ COMMITTED and REPEATABLE READ alike, and
      //    SERIALIZABLE does not turn it into a locking read (it does that
      //    only inside a transaction or with autocommit off). It answers a
      //    row with this call's token as claimed, as the locking path does.
      // 2. Nothing live seen: INSERT IGNORE, in autocommit. A new key is
      //    inserted (claimed: the insert holds the row's lock until it
      //    commits, so a concurrent claim waits and then finds it). Any row
      //    at all, committed or not, makes it insert nothing: the duplicate
      //    check reads the current version, never a snapshot.
      // 3. A row exists (expired, or committed after step 1's snapshot):
      //    exactly the claim of v1. In one transaction, INSERT ... ON
      //    DUPLICATE KEY UPDATE takes an exclusive lock on the key's row
      //    (inserted, taken over or left as it is) and judges the newest
      //    committed version, so concurrent claims serialize; the locking
      //    SELECT reads that row under the same lock, so nothing can change
      //    it in between. The ON DUPLICATE KEY UPDATE assignments only take
      //    over an expired row. MySQL evaluates them left to right, a later
      //    one seeing the columns already assigned; MariaDB does the same
      //    unless SIMULTANEOUS_ASSIGNMENT is set. Every condition reads
      //    expires_at only, and expires_at is assigned last, so both read
      //    the old row either way.
      // Only steps 2 and 3 ever answer "claimed", and both decide under the
      // row's lock on its newest version, so two owners are impossible.
      // The answer is the first result set with a row, step 1's or step
      // 3's. When step 2 inserted, there is none: the CALL's affected rows
      // are those of its last statement, that INSERT's 1, and that is the
      // answer "claimed" (a result set saying so would cost the server and
      // the client a statement and a result set on every first request).
      sql: `CREATE PROCEDURE ${n.claim}(
  IN p_key VARBINARY(255), IN p_fingerprint VARBINARY(255),
  IN p_token VARBINARY(255), IN p_lease_ms BIGINT)
${security}
BEGIN
  ${onError}
  SELECT state = 'in_progress' AND token <=> p_token AS claimed,
         state, fingerprint, expires_at, status, headers, body
  FROM ${n.sql} WHERE \`key\` = p_key AND expires_at > ${NOW_MS};
  IF FOUND_ROWS() = 0 THEN
    INSERT IGNORE INTO ${n.sql} (\`key\`, fingerprint, state, token, expires_at)
    VALUES (p_key, p_fingerprint, 'in_progress', p_token, ${NOW_MS} + p_lease_ms);
    IF ROW_COUNT() <> 1 THEN
      START TRANSACTION;
      INSERT INTO ${n.sql} (\`key\`, fingerprint, state, token, expires_at)
      VALUES (p_key, p_fingerprint, 'in_progress', p_token, ${NOW_MS} + p_lease_ms)
      ON DUPLICATE KEY UPDATE
        ${ifExpired('fingerprint', 'p_fingerprint')},
        ${ifExpired('state', "'in_progress'")},
        ${ifExpired('token', 'p_token')},
        ${ifExpired('status', 'NULL')},
        ${ifExpired('headers', 'NULL')},
        ${ifExpired('body', 'NULL')},
        ${ifExpired('expires_at', `${NOW_MS} + p_lease_ms`)};
      SELECT state = 'in_progress' AND token <=> p_token AS claimed,
             state, fingerprint, expires_at, status, headers, body
      FROM ${n.sql} WHERE \`key\` = p_key FOR UPDATE;
      COMMIT;
    END IF;
  END IF;
END`,
    },
    {
      name: n.begin,
      // Starts the transaction transaction() hands out, with a savepoint that
      // proves at completion that it is still the same one: a deadlock or a
      // lock wait timeout can roll it back while the handler goes on in
      // autocommit, and completing the record then would keep a record
      // without its writes.
      sql: `CREATE PROCEDURE ${n.begin}()
${security}
BEGIN
  START TRANSACTION;
  SAVEPOINT ${GUARD};
END`,
    },
    {
      name: n.commit,
      // Completes the record inside the handler's transaction and commits
      // both, or rolls both back when the token no longer owns the record.
      // RELEASE SAVEPOINT fails (1305) when that transaction already ended.
      sql: `CREATE PROCEDURE ${n.commit}(
  IN p_key VARBINARY(255), IN p_token VARBINARY(255), IN p_ttl_ms BIGINT,
  IN p_status INT, IN p_headers MEDIUMBLOB, IN p_body LONGBLOB)
${security}
BEGIN
  ${onError}
  RELEASE SAVEPOINT ${GUARD};
  UPDATE ${n.sql} SET state = 'completed', token = NULL, expires_at = ${NOW_MS} + p_ttl_ms,
    status = p_status, headers = p_headers, body = p_body
  WHERE \`key\` = p_key AND token = p_token AND state = 'in_progress' AND expires_at > ${NOW_MS};
  IF ROW_COUNT() = 1 THEN
    COMMIT;
    SELECT 1 AS committed;
  ELSE
    ROLLBACK;
    SELECT 0 AS committed;
  END IF;
END`,
    },
  ];
}

/**
 * The DDL of the store's table and its stored procedures, for your own
 * migrations, as a script for the `mysql`/`mariadb` command-line client
 * (procedures between `DELIMITER` lines). Safe to run again: the table is
 * created if missing, the procedures dropped and created.
 * `mysqlStore(...).migrate()` creates the same objects. The package's
 * `schema.sql` is this for the default table.
 *
 * @param table Table name, optionally database-qualified (`idem.records`).
 * @default table 'idem_records'
 */
export function schemaSql(table: string = DEFAULT_TABLE): string {
  const n = names(table);
  const routines = procedures(n).map(
    (p) => `DROP PROCEDURE IF EXISTS ${p.name};\nDELIMITER //\n${p.sql} //\nDELIMITER ;\n`,
  );
  return `-- Idempotency records of @idem/store-mysql: one row per store key.
-- MySQL 8.0+ or MariaDB 10.6+. Run with: mysql <database> < schema.sql
${tableDdl(n)};

${routines.join('\n')}`;
}

const MiB = 1024 * 1024;

/**
 * Create the table and the procedures if missing, on one connection of the
 * pool, and check that `max_allowed_packet` fits `maxResponseBytes`.
 */
export async function migrate(pool: Pool, n: Names, maxResponseBytes: number): Promise<void> {
  const connection = await pool.getConnection();
  try {
    // The procedures keep the sql_mode they are created under: a strict one.
    // The lock keeps instances that start together apart.
    await connection.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
    await connection.query(`SELECT GET_LOCK('idem-migrate:${n.bare}', 30)`);
    await connection.query(tableDdl(n));
    for (const procedure of procedures(n)) {
      // 1304: created meanwhile by another instance; the name carries the version.
      await connection.query(procedure.sql).catch((error: unknown) => {
        if (errno(error) !== 1304) throw error;
      });
    }
    const [rows] = await connection.query({
      sql: 'SELECT @@max_allowed_packet',
      rowsAsArray: true,
    });
    const packet = Number((rows as unknown[][])[0]![0]);
    // Bodies and headers travel hex-encoded: twice their size, plus room for headers.
    const needed = 2 * maxResponseBytes + MiB;
    if (packet < needed) {
      throw new ConfigurationError(
        `mysqlStore: the server's max_allowed_packet is ${packet} bytes, but completing a ${maxResponseBytes}-byte response (maxResponseBytes, sent hex-encoded) needs ${needed}: raise max_allowed_packet, or pass maxResponseBytes: ${Math.max(0, Math.floor((packet - MiB) / 2))} or less.`,
      );
    }
  } finally {
    // Its session carries the sql_mode and the lock: do not hand it back.
    connection.destroy();
  }
}
