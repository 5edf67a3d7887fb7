// Prints, from a vitest JSON report, what each store conformance suite's
// model-based test reached of the key lifecycle (its `meta.lifecycle`):
// commands run and kinds of transition seen out of those reachable.
//
//   node tools/vitest/lifecycle-coverage.mjs .tmp/vitest.json [.tmp/vitest-deep.json ...]
//
// Give the deep tier's report too: the everyday tier runs the emulated
// stores' suites in the quick profile, whose fewer model runs may not reach
// every kind; their full runs are in the deep tier.
import { readFileSync } from 'node:fs';

const reports = process.argv.slice(2);
const rows = [];
for (const file of reports.length > 0 ? reports : ['.tmp/vitest.json']) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  collect(report, file);
}

function collect(report, name) {
  for (const file of report.testResults) {
    for (const test of file.assertionResults) {
      const lifecycle = test.meta?.lifecycle;
      if (!lifecycle) continue;
      const suite = test.ancestorTitles.at(-1).replace(/^@idem\/conformance store suite: /, '');
      rows.push({
        suite: `${suite} (${name})`,
        kinds: Object.keys(lifecycle.kinds).length,
        reachable: lifecycle.reachable,
        transitions: lifecycle.transitions,
        seconds: (test.duration ?? 0) / 1000,
      });
    }
  }
}
if (rows.length === 0) {
  console.log('lifecycle coverage: no model-based store test in this report');
} else {
  console.log(
    'lifecycle coverage of the store model checks (kinds of transition reached, commands run):',
  );
  for (const r of rows.sort((a, b) => a.suite.localeCompare(b.suite))) {
    const mark = r.kinds === r.reachable ? ' ' : '!';
    console.log(
      ` ${mark} ${`${r.kinds}/${r.reachable}`.padStart(5)}  ${String(r.transitions).padStart(6)} commands  ${r.seconds.toFixed(1).padStart(6)} s  ${r.suite}`,
    );
  }
}
