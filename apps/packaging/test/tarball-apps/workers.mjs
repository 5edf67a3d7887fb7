// The two Workers stores outside workerd, as far as Node goes: their
// README's store construction on a binding, the options they refuse, and
// the Durable Object class that refuses to run without the workerd export
// condition. (Their behaviour needs workerd; the repository's own tests run
// it there.)
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { d1Store } from '@idem/store-d1';
import { durableObjectStore, IdempotencyObject } from '@idem/store-durable-objects';

const codeOf = (fn) => {
  try {
    fn();
    return 'no error';
  } catch (error) {
    return error.code;
  }
};

// A D1 binding's shape: statements are prepared, then run in a batch.
const database = { prepare: () => ({}), batch: async () => [], exec: async () => ({}) };
const d1 = d1Store({ database });
const namespace = { idFromName: (name) => ({ name }), get: () => ({}) };
const durable = durableObjectStore({ namespace });

// The README copies the migration out of node_modules.
const packageJson = createRequire(import.meta.url).resolve('@idem/store-d1/package.json');
const migration = join(dirname(packageJson), 'migrations', '0001_idem_records.sql');

console.log(
  JSON.stringify({
    d1: { claim: typeof d1.claim, migrate: typeof d1.migrate, migration: existsSync(migration) },
    durableObjects: { claim: typeof durable.claim },
    refused: {
      d1WithoutBinding: codeOf(() => d1Store({})),
      durableObjectsWithoutNamespace: codeOf(() => durableObjectStore({})),
      objectOutsideWorkerd: codeOf(() => new IdempotencyObject({}, {})),
    },
  }),
);
