import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docsCompilerOptions } from './doc-blocks.ts';
import { brokenLinks, githubSlug } from './docs-links.ts';
import { type KnownNames, knownNames, publishedEntries, unknownNames } from './docs-names.ts';

/**
 * The link and name checks of docs.test.ts, shown to fail on a doc that is
 * wrong and to pass on one that is right, in a scratch repository.
 */

const repository = fileURLToPath(new URL('../../..', import.meta.url));
let scratch: string;
let known: KnownNames;

function write(files: Record<string, string>): string[] {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), text);
  }
  return Object.keys(files).filter((path) => path.endsWith('.md'));
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'idem-docs-'));
  const globalsFile = join(scratch, 'globals.ts');
  writeFileSync(globalsFile, 'export {};\n');
  const entries = publishedEntries(repository);
  const program = ts.createProgram([...entries, globalsFile], docsCompilerOptions);
  known = knownNames(program, entries, globalsFile);
}, 120_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the link check', () => {
  it('passes links to files and headings that exist', () => {
    const files = write({
      'docs/guide.md': [
        '# Guide',
        '## When the store is down: the breaker',
        '## `run()` and `Outcome.kind`',
        '## Options',
        '## Options',
        'See [the API](../packages/core/README.md#options), [the breaker](#when-the-store-is-down-the-breaker),',
        '[run](#run-and-outcomekind), [the second](#options-1) and [the site](https://example.com/x#y).',
        '```md',
        '[not a link](./nowhere.md) inside a code block',
        '```',
        '`[nor this](./nowhere.md)` in a code span',
      ].join('\n'),
      'packages/core/README.md': '# @idem/core\n\n## Options\n',
    });
    expect(brokenLinks(scratch, files)).toEqual([]);
  });

  it('fails a link to a missing file and one to a missing heading, naming the line', () => {
    const files = write({
      'docs/broken.md': [
        '# Broken',
        '',
        'Read [the store guide](./writing-a-stor.md).',
        'And [the breaker](./guide.md#when-the-store-is-down-the-braker).',
      ].join('\n'),
    });
    const problems = brokenLinks(scratch, files);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^docs\/broken\.md:3 links to \.\/writing-a-stor\.md: there is no docs\/writing-a-stor\.md/,
    );
    expect(problems[1]).toMatch(
      /^docs\/broken\.md:4 .*has no heading #when-the-store-is-down-the-braker \(did you mean #when-the-store-is-down-the-breaker\?\)/,
    );
  });

  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Options (all adapters and the engine)')).toBe(
      'options-all-adapters-and-the-engine',
    );
    expect(githubSlug('`Idempotency-Key`: sf-string or token')).toBe(
      'idempotency-key-sf-string-or-token',
    );
    expect(githubSlug('Ran, not stored ([why](#x))')).toBe('ran-not-stored-why');
    expect(githubSlug('in_flight, 409')).toBe('in_flight-409');
  });
});

describe('the name check', () => {
  it('passes exports, their members, globals and names that do not read as exports', () => {
    const files = write({
      'docs/names.md': [
        '`createIdempotency(options)` returns an `Idempotency`; a retry may throw `ResponseNotStoredError`.',
        '`memoryStore()` is a `Store`; the operation receives a `Claim`; `webhooks.stripe` is a preset.',
        'The `shouldStore` option and the `storeError` hook, a `Uint8Array` body, a `Request`,',
        '`c.req.raw`, `POST`, `RESPONSE_NOT_STORED`, `leaseMs`, `idem.run()`.',
      ].join('\n'),
    });
    expect(unknownNames(scratch, files, known, new Set())).toEqual([]);
  });

  it('fails a stale name with its line and the name it probably means', () => {
    const files = write({
      'docs/stale.md': [
        '# Errors',
        '',
        'A retry gets `ResultNotStoredError` when the result was not kept.',
        'Presets: `webhooks.stripes`, and the engine is `createIdempotence()`.',
      ].join('\n'),
    });
    expect(unknownNames(scratch, files, known, new Set())).toEqual([
      'docs/stale.md:3 `ResultNotStoredError`: no published entry point exports ResultNotStoredError (did you mean ResponseNotStoredError?)',
      'docs/stale.md:4 `webhooks.stripes`: webhooks has no member stripes (did you mean webhooks.stripe?)',
      'docs/stale.md:4 `createIdempotence()`: no published entry point exports createIdempotence (did you mean createIdempotency?)',
    ]);
  });

  it('lets an allowed name through, and only that one', () => {
    const files = write({ 'docs/allowed.md': 'Mount it on a `Hono` app, not a `Honey` one.\n' });
    expect(unknownNames(scratch, files, known, new Set(['Hono']))).toEqual([
      'docs/allowed.md:1 `Honey`: no published entry point exports Honey',
    ]);
  });
});
