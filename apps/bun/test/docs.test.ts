import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// "The examples run from their docs as written": each page's example is a
// file of this app, which test/examples.deep.test.ts starts with Bun.
const EXAMPLES = {
  'docs/runtimes/bun.md': 'src/examples/bun-serve.ts',
  'docs/runtimes/elysia.md': 'src/examples/elysia.ts',
};

describe('the docs examples are files Bun runs', () => {
  for (const [page, file] of Object.entries(EXAMPLES)) {
    it(`${page}'s example is ${file}`, () => {
      const text = readFileSync(new URL(`../../../${page}`, import.meta.url), 'utf8');
      const example = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
      const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
      expect(blocks).toContain(example);
    });
  }
});
