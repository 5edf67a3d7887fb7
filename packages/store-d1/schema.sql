-- @idem/store-d1: one row per store key (see the package's README).
CREATE TABLE IF NOT EXISTS "idem_records" (
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
);
CREATE INDEX IF NOT EXISTS "idem_records_expires_at_idx" ON "idem_records" (expires_at);
