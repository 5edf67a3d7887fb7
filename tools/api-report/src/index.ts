import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { unifiedDiff } from './diff.js';
import { existingReports, publishedEntries } from './entries.js';
import { renderReports } from './report.js';

export { unifiedDiff } from './diff.js';
export { type Entry, publishedEntries } from './entries.js';
export { renderReports } from './report.js';

/** What `api:check` found wrong with one report. */
export interface ReportProblem {
  /** The report's path, relative to the root. */
  readonly report: string;
  /**
   * `changed`: the entry's API differs from its report; `missing`: an entry
   * has no report; `orphan`: a report belongs to no entry.
   */
  readonly kind: 'changed' | 'missing' | 'orphan';
  /** What to show: the diff for `changed`, a sentence otherwise. */
  readonly detail: string;
}

/**
 * Compares the reports on disk under `root` with the sources' current API.
 *
 * @returns The problems, in report order; empty when every report is current.
 */
export function checkReports(root: string): ReportProblem[] {
  const entries = publishedEntries(root);
  const expected = renderReports(root, entries);
  const problems: ReportProblem[] = [];
  for (const [path, text] of expected) {
    const report = relative(root, path);
    const entry = entries.find((candidate) => candidate.report === path)!;
    if (!existsSync(path)) {
      const detail = `${entry.specifier} (${relative(root, entry.source)}) has no report`;
      problems.push({ report, kind: 'missing', detail });
      continue;
    }
    const diff = unifiedDiff(readFileSync(path, 'utf8'), text);
    if (diff !== '') problems.push({ report, kind: 'changed', detail: diff });
  }
  for (const path of existingReports(root)) {
    if (expected.has(path)) continue;
    const detail = 'reports no entry point of a published package (entry removed or renamed?)';
    problems.push({ report: relative(root, path), kind: 'orphan', detail });
  }
  return problems;
}

/**
 * Writes every entry's report under `root` and removes the reports that
 * belong to no entry.
 *
 * @returns The paths written or removed, relative to the root.
 */
export function updateReports(root: string): string[] {
  const expected = renderReports(root, publishedEntries(root));
  const touched: string[] = [];
  for (const [path, text] of expected) {
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    touched.push(relative(root, path));
  }
  for (const path of existingReports(root)) {
    if (expected.has(path)) continue;
    rmSync(path);
    touched.push(relative(root, path));
  }
  return touched;
}
