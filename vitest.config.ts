import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './tools/vitest/longest-first.ts';
import { tier } from './vitest.shared.ts';

// One root config runs every package's tests against their TypeScript sources
// (the `@idem/source` export condition), so no build is needed before testing.
// vitest.shared.ts picks the tier (everyday, deep, compat); CONTRIBUTING.md
// says which to run when.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'tools/api-report'],
    // Most files spend their time waiting on a server, a child process or
    // workerd, not on this CPU: vitest's default (one worker per core but
    // one) would leave a 2-core machine idle most of the run. The deep tier's
    // files load the machine on purpose (busy threads, killed processes),
    // each as it was designed to: one at a time.
    maxWorkers: tier === 'deep' ? 1 : Math.max(4, availableParallelism() * 2),
    // The longest files first, whatever their project, so that no long file
    // starts last and runs alone (tools/vitest/longest-first.ts).
    sequence: { sequencer: LongestFirst },
    reporters: ['./tools/vitest/package-reporter.ts'],
    passWithNoTests: true,
  },
});
