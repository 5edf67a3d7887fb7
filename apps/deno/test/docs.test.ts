import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

// "The examples run from their docs as written": the page's example is
// src/payments.ts, which test/payments.deep.test.ts runs under Deno.
it("docs/runtimes/deno.md's example is src/payments.ts", () => {
  const page = readFileSync(new URL('../../../docs/runtimes/deno.md', import.meta.url), 'utf8');
  const example = readFileSync(new URL('../src/payments.ts', import.meta.url), 'utf8');
  const blocks = [...page.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  expect(blocks).toContain(example);
});
