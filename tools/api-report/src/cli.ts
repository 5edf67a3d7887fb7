import { fileURLToPath } from 'node:url';
import { checkReports, updateReports } from './index.js';

// `tsx tools/api-report/src/cli.ts check|update [root]`, run by the root
// scripts api:check and api:update.
const [command, rootArgument] = process.argv.slice(2);
const root = rootArgument ?? fileURLToPath(new URL('../../..', import.meta.url));
const FIX = 'run `npx -y pnpm@10 api:update` and commit the report';

if (command === 'update') {
  const touched = updateReports(root);
  console.log(
    touched.length === 0
      ? 'API reports: up to date'
      : touched.map((path) => `updated ${path}`).join('\n'),
  );
} else if (command === 'check') {
  const problems = checkReports(root);
  for (const { report, kind, detail } of problems) {
    console.error(`\n${report}: ${kind}\n${detail}`);
  }
  if (problems.length > 0) {
    console.error(`\nThe public API and its reports disagree (${problems.length}): ${FIX}.`);
    process.exit(1);
  }
  console.log('API reports: every entry point matches its report');
} else {
  console.error('usage: cli.ts check|update [root]');
  process.exit(2);
}
