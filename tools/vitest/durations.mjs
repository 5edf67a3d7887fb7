// Writes tools/vitest/durations.json from a vitest JSON report of an everyday
// run (`npx vitest run --reporter=json --outputFile=<file>`): each test
// file's duration, which longest-first.ts starts the longest files by.
//
//   node tools/vitest/durations.mjs <report.json>
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const report = process.argv[2];
if (!report) {
  console.error('usage: node tools/vitest/durations.mjs <vitest json report>');
  process.exit(2);
}
const root = fileURLToPath(new URL('../..', import.meta.url));
const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
const durations = Object.fromEntries(
  testResults
    .map((file) => [relative(root, file.name), Math.round(file.endTime - file.startTime)])
    .sort(([a], [b]) => (a < b ? -1 : 1)),
);
writeFileSync(
  new URL('./durations.json', import.meta.url),
  `${JSON.stringify(durations, null, 2)}\n`,
);
console.log(`durations of ${Object.keys(durations).length} files written`);
