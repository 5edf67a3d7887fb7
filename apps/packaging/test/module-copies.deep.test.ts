import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reachServer } from '@idem/conformance';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * idem's packages as users load them. A CommonJS app loads `dist/*.cjs`, an
 * ESM app `dist/*.js`; an app may mix the two, or end up with two copies of
 * `@idem/core` (two versions in node_modules). Each copy has its own error
 * classes, so idem must recognise a store's errors by their code: here a
 * Postgres transaction that rolled back (503 rolled-back, then exactly one
 * payment row) and a DynamoDB item over 400 KB (410 on retry, one run), the
 * same in every way of loading.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '../../..');
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const probe = new pg.Pool({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
probe.on('error', () => {});
const up = await reachServer('PostgreSQL', DATABASE_URL, () => probe.query('SELECT 1')).finally(
  () => probe.end(),
);

const scenario = JSON.stringify(join(here, 'scenario.cjs'));
const pkg = (name: string) => join(root, 'packages', name);

/** The four ways of loading: each a script, and the folder it runs from. */
const loaders: Record<string, { file: string; source: string }> = {
  'all CommonJS': {
    file: 'app.cjs',
    source: `
      const { idempotency } = require('@idem/express');
      const { postgresStore } = require('@idem/store-postgres');
      const { dynamoDbStore } = require('@idem/store-dynamodb');
      require(${scenario})({ idempotency, postgresStore, dynamoDbStore });`,
  },
  'all ESM': {
    file: 'app.mjs',
    source: `
      import { idempotency } from '@idem/express';
      import { postgresStore } from '@idem/store-postgres';
      import { dynamoDbStore } from '@idem/store-dynamodb';
      import { createRequire } from 'node:module';
      await createRequire(import.meta.url)(${scenario})({ idempotency, postgresStore, dynamoDbStore });`,
  },
  'stores CommonJS, adapter ESM': {
    file: 'app.mjs',
    source: `
      import { idempotency } from '@idem/express';
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const { postgresStore } = require('@idem/store-postgres');
      const { dynamoDbStore } = require('@idem/store-dynamodb');
      await require(${scenario})({ idempotency, postgresStore, dynamoDbStore });`,
  },
  'a second copy of @idem/core under the stores': {
    file: 'app.cjs',
    source: `
      // The stores come from this folder's node_modules, with their own copy of core.
      const { idempotency } = require(${JSON.stringify(join(pkg('express'), 'dist/index.cjs'))});
      const { postgresStore } = require('@idem/store-postgres');
      const { dynamoDbStore } = require('@idem/store-dynamodb');
      require(${scenario})({ idempotency, postgresStore, dynamoDbStore });`,
  },
};

let scratch: string;

/** A folder whose node_modules holds copies of core and the two stores, and links to their clients. */
function secondCopy(dir: string): void {
  const modules = join(dir, 'node_modules');
  for (const name of ['core', 'store-postgres', 'store-dynamodb']) {
    const target = join(modules, '@idem', name);
    mkdirSync(target, { recursive: true });
    cpSync(join(pkg(name), 'package.json'), join(target, 'package.json'));
    cpSync(join(pkg(name), 'dist'), join(target, 'dist'), { recursive: true });
  }
  for (const client of ['pg', '@aws-sdk/client-dynamodb']) {
    mkdirSync(join(modules, client, '..'), { recursive: true });
    symlinkSync(
      join(pkg(client === 'pg' ? 'store-postgres' : 'store-dynamodb'), 'node_modules', client),
      join(modules, client),
    );
  }
}

function run(dir: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path],
      { cwd: dir, timeout: 60_000, env: { ...process.env, DATABASE_URL } },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe.skipIf(!up)('errors cross module copies by their code', () => {
  beforeAll(() => {
    // The built packages, exactly as published (turbo reuses its cache when nothing changed).
    // Its output only matters when it fails, and then it goes in the error.
    try {
      execFileSync(
        'npx',
        [
          'turbo',
          'run',
          'build',
          '--filter=@idem/express',
          '--filter=@idem/store-postgres',
          '--filter=@idem/store-dynamodb',
          '--output-logs=errors-only',
        ],
        { cwd: root, stdio: 'pipe', encoding: 'utf8', timeout: 240_000 },
      );
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`turbo build failed:\n${stdout}${stderr}`, { cause: error });
    }
    scratch = mkdtempSync(join(tmpdir(), 'idem-copies-'));
  }, 300_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  for (const [name, { file, source }] of Object.entries(loaders)) {
    it(name, async () => {
      const copies = name.startsWith('a second copy');
      const dir = copies ? join(scratch, 'copies') : here;
      if (copies) secondCopy(dir);
      const path = join(dir, `.loader-${file.replace('app', name.replace(/\W+/g, '-'))}`);
      writeFileSync(path, source);
      try {
        const output = await run(dir, path);
        const result = JSON.parse(output.trim().split('\n').pop()!);
        expect(result.postgres.answers).toEqual([
          { status: 503, type: 'urn:idem:problem:rolled-back' },
          { status: 201 },
          { status: 201 },
        ]);
        expect(result.postgres.rowCounts).toEqual([0, 1, 1]);
        expect(result.postgres.runs).toBe(2);
        expect(result.dynamodb.answers).toEqual([
          { status: 200 },
          { status: 410, type: 'urn:idem:problem:response-not-stored' },
          { status: 410, type: 'urn:idem:problem:response-not-stored' },
        ]);
        expect(result.dynamodb.runs).toBe(1);
      } finally {
        rmSync(path, { force: true });
      }
    }, 90_000);
  }
});
