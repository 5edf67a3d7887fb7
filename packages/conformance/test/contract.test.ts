import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import * as contract from '../src/http/contract.js';
import * as http from '../src/http.js';

describe('@idem/conformance/http/contract', () => {
  it('imports nothing at runtime (only types), so a Worker or a browser bundle can take it', async () => {
    const source = await readFile(new URL('../src/http/contract.ts', import.meta.url), 'utf8');
    const imports = source.match(/^\s*(import|export)\b[^;]*\bfrom\s+['"][^'"]+['"]/gm) ?? [];
    for (const line of imports) expect(line).toMatch(/^\s*(import|export) type\b/);
    expect(source).not.toMatch(/\bimport\s*\(|\brequire\s*\(/);
  });

  it('is what @idem/conformance/http exports', () => {
    expect(http.EVENTS).toBe(contract.EVENTS);
    expect(http.fixtureBytes).toBe(contract.fixtureBytes);
  });

  it('is a subpath export of the package, from source and from dist', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.exports['./http/contract']).toMatchObject({
      '@idem/source': './src/http/contract.ts',
      import: { default: './dist/http/contract.js' },
      require: { default: './dist/http/contract.cjs' },
    });
  });
});
