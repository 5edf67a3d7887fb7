import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

// docs/runtimes/h3.md shows files that tsc checks and the tests run, as
// they are: its blocks are compared with them here.
const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

const blocks = [...read('../../../docs/runtimes/h3.md').matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map(
  (m) => m[1],
);

it.each([
  ['the complete app', '../src/payments.ts'],
  ["Nitro's server/utils/idem.ts", '../nitro/server/utils/idem.ts'],
  ["Nitro's server/api/payments.post.ts", '../nitro/server/api/payments.post.ts'],
])('the guide shows %s as the file is', (_what, path) => {
  expect(blocks).toContain(read(path));
});

it('the complete app holds the glue the conformance suite runs, word for word', () => {
  // src/idempotent.ts, less its imports and its export keyword.
  const glue = read('../src/idempotent.ts')
    .replace(/^import[\s\S]*?;\n\n/gm, '')
    .replace('export function', 'function');
  expect(glue).toMatch(/^\/\*\*/);
  expect(read('../src/payments.ts')).toContain(glue);
});
