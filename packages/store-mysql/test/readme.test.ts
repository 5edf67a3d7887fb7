import { fileURLToPath } from 'node:url';
import { typecheckCodeBlocks } from '@idem/test-stores/docs';
import { expect, it } from 'vitest';

it('every ts code block of the README compiles', () => {
  expect(typecheckCodeBlocks(fileURLToPath(new URL('../README.md', import.meta.url)))).toEqual([]);
}, 60_000);
