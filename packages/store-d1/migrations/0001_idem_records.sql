-- Idempotency records of @idem/store-d1: one row per store key.
CREATE TABLE IF NOT EXISTS "idem_records" (
  -- The store key: 'idem1:' and a digest of scope and idempotency key.
  key         TEXT    PRIMARY KEY,
  -- Digest of the request that claimed the key.
  fingerprint TEXT    NOT NULL,
  state       TEXT    NOT NULL CHECK (state IN ('in_progress', 'completed')),
  -- Owner (fencing) token while in progress; NULL once completed.
  token       TEXT,
  -- Live until, in epoch milliseconds of SQLite's clock: the lease deadline
  -- while in progress, the expiry once completed. A row past it is treated as
  -- absent at once and deleted by purgeExpired().
  expires_at  INTEGER NOT NULL,
  -- The stored response, once completed: status, [[name, value], ...] as JSON, raw body.
  status      INTEGER,
  headers     TEXT,
  body        BLOB,
  CHECK (state = 'in_progress' AND token IS NOT NULL
      OR state = 'completed' AND status IS NOT NULL AND headers IS NOT NULL AND body IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS "idem_records_expires_at_idx" ON "idem_records" (expires_at);
