import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tarballProblems } from '../../../tools/release/tarball.mjs';

/**
 * The check pack.mjs runs on every tarball before anything installs it, on
 * tarballs made here: whole, without their dist, with an `exports` target
 * the build never writes, with a `workspace:` range, and with the
 * repository-only source condition.
 */

const scratch = mkdtempSync(join(tmpdir(), 'idem-tarball-check-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let count = 0;
/** A tarball laid out as npm's: everything under `package/`. */
function tarball(manifest: object, files: string[]): string {
  const dir = join(scratch, `t${++count}`);
  for (const file of files) {
    mkdirSync(dirname(join(dir, 'package', file)), { recursive: true });
    writeFileSync(join(dir, 'package', file), '');
  }
  writeFileSync(join(dir, 'package', 'package.json'), JSON.stringify(manifest));
  const file = join(scratch, `t${count}.tgz`);
  execFileSync('tar', ['-czf', file, '-C', dir, 'package']);
  return file;
}

const manifest = {
  name: '@idem/example',
  version: '0.1.0',
  main: './dist/index.cjs',
  types: './dist/index.d.ts',
  exports: {
    '.': {
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    },
    './features/*': './dist/features/*.js',
    './package.json': './package.json',
  },
  imports: { '#hash': { node: './dist/hash-node.js', default: './dist/hash.js' }, '#dep': 'dep' },
  peerDependencies: { '@idem/core': '^0.1.0' },
};
const dist = [
  'dist/index.js',
  'dist/index.cjs',
  'dist/index.d.ts',
  'dist/index.d.cts',
  'dist/features/a.js',
  'dist/hash-node.js',
  'dist/hash.js',
];

describe('tarballProblems', () => {
  it('finds nothing wrong with a whole tarball', () => {
    expect(tarballProblems(tarball(manifest, dist))).toEqual([]);
  });

  it('names the package, each missing file, the field pointing at it, and the fix', () => {
    const [problem, ...rest] = tarballProblems(tarball(manifest, ['README.md']));
    expect(rest).toEqual([]);
    expect(problem).toContain('@idem/example@0.1.0');
    expect(problem).toContain('dist/index.cjs ("main", "exports"["."]["require"]["default"])');
    expect(problem).toContain('dist/features/*.js ("exports"["./features/*"])');
    expect(problem).toContain('dist/hash.js ("imports"["#hash"]["default"])');
    expect(problem).toContain('lacks 7 file(s)');
    expect(problem).toContain('Fix: build the package before packing');
  });

  it('catches an exports target the build does not write', () => {
    const wrong = { ...manifest, exports: { ...manifest.exports, './http': './dist/http.js' } };
    expect(tarballProblems(tarball(wrong, dist))).toEqual([
      expect.stringContaining('dist/http.js ("exports"["./http"])'),
    ]);
  });

  it('refuses a workspace: range and the source condition', () => {
    const leaky = {
      ...manifest,
      peerDependencies: { '@idem/core': 'workspace:^' },
      exports: { ...manifest.exports, './src': { '@idem/source': './dist/index.js' } },
    };
    const problems = tarballProblems(tarball(leaky, dist));
    expect(problems).toEqual([
      expect.stringContaining('peerDependencies["@idem/core"] = "workspace:^"'),
      expect.stringContaining('@idem/source export condition'),
    ]);
  });
});
