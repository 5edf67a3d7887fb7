/**
 * `@idem/conformance/transactional`: the suite for SQL stores that complete
 * the record inside the operation's own database transaction
 * (`store.transaction(claim)`), run beside the store suite.
 *
 * ```ts
 * transactionalSuite({
 *   name: 'postgres',
 *   store,
 *   write: async (claim, id) => {
 *     const tx = await store.transaction(claim);
 *     await tx.query('INSERT INTO tx_writes (id) VALUES ($1)', [id]);
 *   },
 *   countWrites: async (id) =>
 *     (await admin.query('SELECT count(*)::int AS n FROM tx_writes WHERE id = $1', [id])).rows[0].n,
 *   breakTransaction: async (claim) => {
 *     const tx = await store.transaction(claim);
 *     await tx.query('SELECT 1/0').catch(() => {});
 *   },
 * });
 * ```
 *
 * @packageDocumentation
 */
import { afterAll, describe, it } from 'vitest';
import { assertKnownChecks } from './skip.js';
import { transactionalChecks } from './transactional/checks.js';
import type { TransactionalSuiteOptions } from './transactional/options.js';

export { ConformanceError } from './store/harness.js';
export { transactionalChecks } from './transactional/checks.js';
export type {
  TransactionalCheck,
  TransactionalSuiteOptions,
} from './transactional/options.js';

/**
 * Declare the transactional suite as vitest tests. Through idem's engine and
 * the store's own calls, it checks that the operation's writes commit with
 * the record and only with it: a thrown operation, a failed commit, a result
 * `shouldStore` does not keep and a lost lease keep none of them (the first
 * three free the key, so the retry runs once); concurrent duplicates write
 * once; and a finished operation's claim opens no new transaction. Writes
 * are counted out of band, through `countWrites`.
 */
export function transactionalSuite(options: TransactionalSuiteOptions): void {
  describe(`@idem/conformance transactional suite: ${options.name}`, () => {
    if (options.skip) {
      it.skip(`skipped: ${options.skip}`, () => {});
      return;
    }
    const checks = transactionalChecks(options);
    assertKnownChecks(
      'transactionalSuite',
      options.skipChecks,
      checks.map((c) => c.name),
    );
    for (const c of checks) {
      const reason = options.skipChecks?.[c.name];
      if (reason) it.skip(`${c.name} (skipped: ${reason})`, () => {});
      else it(c.name, () => c.run(), options.timeoutMs ?? 60_000);
    }
    if (options.teardown) afterAll(options.teardown);
  });
}
