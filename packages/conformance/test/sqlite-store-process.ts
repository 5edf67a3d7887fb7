/**
 * One process of the `connections` processes race in sqlite-race.test.ts:
 * its own connection to the test's SQLite file, served to the check over IPC.
 */
// Imported from its own module: the whole of @idem/conformance would take seconds to load through tsx.
import { serveStore } from '../src/store/remote.js';
import { type SqliteStoreInput, sqliteStore } from './sqlite-store.js';

serveStore(
  (input) => sqliteStore(input as SqliteStoreInput),
  (store) => (store as ReturnType<typeof sqliteStore>).close(),
);
