/**
 * `pnpm --filter @idem/bench report`: re-render BENCHMARKS.md and the chart
 * from apps/bench/results/results.json (or the file given), without measuring.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './load.js';
import { renderReport } from './report.js';
import type { Results } from './results.js';

const file = process.argv[2] ?? join(packageRoot(), 'results', 'results.json');
const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
for (const written of await renderReport(results, join(packageRoot(), '..', '..'))) {
  process.stdout.write(`wrote ${written}\n`);
}
