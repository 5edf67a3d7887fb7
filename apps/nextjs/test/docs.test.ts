import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// "The examples run from their docs as written": each block of
// docs/runtimes/nextjs.md is a file of this app, which next.deep.test.ts
// builds and runs and `tsc -b` typechecks.
const FILES = [
  'lib/store.ts',
  'app/api/payments/route.ts',
  'lib/ledger.ts',
  'app/api/transfers/route.ts',
  'app/orders/page.tsx',
  'app/orders/order-form.tsx',
  'app/orders/actions.ts',
];

const page = readFileSync(new URL('../../../docs/runtimes/nextjs.md', import.meta.url), 'utf8');
const blocks = [...page.matchAll(/^`([\w/.[\]-]+)`:\n\n```(?:typescript|tsx)\n([\s\S]*?)^```$/gm)];

describe('docs/runtimes/nextjs.md holds the files of apps/nextjs', () => {
  it('names each file once, in order', () => {
    expect(blocks.map((m) => m[1])).toEqual(FILES);
  });

  for (const file of FILES) {
    it(`its ${file} block is the file`, () => {
      const block = blocks.find((m) => m[1] === file)?.[2];
      expect(block).toBe(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'));
    });
  }
});
