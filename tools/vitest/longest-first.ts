import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * How long each test file took in a whole run of the everyday tier on a
 * 2-core machine, in milliseconds, keyed by its path from the repository
 * root. `node tools/vitest/durations.mjs <vitest json report>` rewrites it.
 */
const KNOWN: Readonly<Record<string, number>> = JSON.parse(
  readFileSync(new URL('./durations.json', import.meta.url), 'utf8'),
);

/**
 * Starts the longest files first, across every project. Vitest's own order
 * runs projects one after another (alphabetically) and, with no results
 * cached (a fresh clone, CI), larger files first within each: a project of
 * long files whose name sorts last (`worker`) then started at the end and
 * kept the run going alone for a minute on two cores. The cost of a file is
 * its duration in the last run (vitest's cache), else in durations.json,
 * else its size.
 */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { cache, config } = this.ctx;
    const cost = (spec: TestSpecification): number => {
      const path = relative(config.root, spec.moduleId);
      const key = `${spec.project.name}:${path}`;
      return (
        cache.getFileTestResults(key)?.duration ?? KNOWN[path] ?? cache.getFileStats(key)?.size ?? 0
      );
    };
    return [...files].sort((a, b) => cost(b) - cost(a));
  }
}
