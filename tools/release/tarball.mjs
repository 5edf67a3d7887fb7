// What a packed tarball holds, and what its package.json promises but it
// lacks. pack.mjs refuses a tarball with a problem; publish-dry-run.mjs
// checks again before asking npm. Reads tarballs with the system `tar`.
import { execFileSync } from 'node:child_process';
import { posix } from 'node:path';

/**
 * The paths inside a tarball, without npm's leading `package/`.
 *
 * @param {string} file The `.tgz`.
 * @returns {string[]}
 */
export function tarballFiles(file) {
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .filter((line) => line !== '' && !line.endsWith('/'))
    .map((line) => line.replace(/^package\//, ''));
}

/**
 * The package.json inside a tarball, as npm will publish it.
 *
 * @param {string} file The `.tgz`.
 * @returns {Record<string, any>}
 */
export function tarballManifest(file) {
  return JSON.parse(
    execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }),
  );
}

/** Every file path a manifest points at, with where it says so. */
function* pointers(manifest) {
  for (const field of ['main', 'module', 'types', 'typings', 'browser']) {
    if (typeof manifest[field] === 'string') yield { path: manifest[field], where: `"${field}"` };
  }
  if (typeof manifest.bin === 'string') yield { path: manifest.bin, where: '"bin"' };
  for (const [name, path] of Object.entries(manifest.bin ?? {})) {
    yield { path, where: `"bin"["${name}"]` };
  }
  yield* exportTargets(manifest.exports, '"exports"');
  // Private imports too: @idem/core's `#native-sha256` loads with every entry.
  yield* exportTargets(manifest.imports, '"imports"');
}

/** The strings at the leaves of an `exports` map (conditions nest, arrays are fallbacks). */
function* exportTargets(value, where) {
  if (typeof value === 'string') yield { path: value, where };
  else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* exportTargets(item, `${where}[${i}]`);
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield* exportTargets(item, `${where}["${key}"]`);
    }
  }
}

/** A subpath pattern's target (`./dist/*.js`) as a test on file paths. */
function patternTest(path) {
  const [before, after] = path.split('*');
  return (file) => file.startsWith(before) && file.endsWith(after) && file.length > before.length;
}

/**
 * What is wrong with a tarball: each file its package.json points at (main,
 * module, types, bin, every `exports` and `imports` target) that it does not hold, a
 * `workspace:` range npm cannot install, and an export condition that only
 * works inside this repository. Each message names the package and the fix.
 *
 * @param {string} file The `.tgz`.
 * @returns {string[]} Empty when the tarball is whole.
 */
export function tarballProblems(file) {
  const manifest = tarballManifest(file);
  const files = new Set(tarballFiles(file));
  const name = `${manifest.name}@${manifest.version} (${posix.basename(file)})`;
  const problems = [];
  /** Each missing path, with every field that points at it. */
  const missing = new Map();
  for (const { path, where } of pointers(manifest)) {
    if (path === null) continue;
    // An `imports` entry may map to a package ("#dep": "some-package"), not a file.
    if (where.startsWith('"imports"') && !path.startsWith('./')) continue;
    const inside = posix.normalize(path).replace(/^\.\//, '');
    const found = inside.includes('*')
      ? [...files].some(patternTest(inside))
      : files.has(inside) || inside === 'package.json';
    if (!found) missing.set(inside, [...(missing.get(inside) ?? []), where]);
  }
  if (missing.size > 0) {
    const list = [...missing].map(([path, where]) => `${path} (${where.join(', ')})`);
    problems.push(
      `${name} lacks ${missing.size} file(s) its package.json points at: ${list.join('; ')}. ` +
        `Fix: build the package before packing (npx -y pnpm@10 pack:packages builds first), ` +
        `make its tsup entries write those files, or list their folder in package.json "files".`,
    );
  }
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
      if (String(range).startsWith('workspace:')) {
        problems.push(
          `${name} has ${field}["${dep}"] = "${range}", which npm cannot install. Fix: pack with ` +
            `pnpm (npx -y pnpm@10 pack:packages), which replaces workspace: ranges with versions.`,
        );
      }
    }
  }
  if (JSON.stringify([manifest.exports, manifest.imports]).includes('"@idem/source"')) {
    problems.push(
      `${name} still has the @idem/source export condition, which points at sources the tarball ` +
        `does not ship. Fix: give package.json publishConfig.exports without it, as every ` +
        `package in packages/ does.`,
    );
  }
  return problems;
}
