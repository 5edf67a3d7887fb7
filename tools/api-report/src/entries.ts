import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** One public entry point of a published package, and where its report goes. */
export interface Entry {
  /** The import specifier users write, e.g. `@idem/core/http`. */
  readonly specifier: string;
  /**
   * The export condition this entry's source is nested under (`workerd` for
   * `"workerd": { "@idem/source": ... }`), or undefined for the default one.
   */
  readonly condition: string | undefined;
  /** The entry's TypeScript source (its `@idem/source` target), absolute. */
  readonly source: string;
  /** The report's path, absolute: `packages/<dir>/api/<entry>[.<condition>].api.md`. */
  readonly report: string;
}

type PackageJson = { name: string; private?: boolean; exports?: Record<string, unknown> };

const SOURCE = '@idem/source';

function readPackage(dir: string): PackageJson | undefined {
  const file = join(dir, 'package.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PackageJson) : undefined;
}

/** The folders under `<root>/packages` holding a package.json, sorted. */
export function packageDirs(root: string): string[] {
  const packages = join(root, 'packages');
  if (!existsSync(packages)) return [];
  return readdirSync(packages)
    .sort()
    .map((name) => join(packages, name))
    .filter((dir) => readPackage(dir) !== undefined);
}

// "." -> "index", "./store/checks" -> "store-checks".
function reportName(subpath: string): string {
  return subpath === '.' ? 'index' : subpath.replace(/^\.\//, '').replaceAll('/', '-');
}

function isConditions(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Every entry point of every published package (no `"private": true`) under
 * `<root>/packages`, in a stable order. An entry's source is its `@idem/source`
 * target; a condition nesting its own `@idem/source` (the Durable Objects
 * store's `workerd`) is an entry of its own.
 *
 * @throws Error when an entry (other than a `.json` one) has no `@idem/source`
 *   target, since its API could not be read without a build.
 */
export function publishedEntries(root: string): Entry[] {
  const entries: Entry[] = [];
  for (const dir of packageDirs(root)) {
    const pkg = readPackage(dir)!;
    if (pkg.private === true) continue;
    for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
      if (subpath.endsWith('.json')) continue;
      const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
      if (!isConditions(target) || typeof target[SOURCE] !== 'string') {
        throw new Error(
          `${specifier} (${join(dir, 'package.json')}) has no "${SOURCE}" condition: ` +
            'add one pointing at its TypeScript source so tools/api-report can read its API',
        );
      }
      const name = reportName(subpath);
      const entry = (condition: string | undefined, source: string): Entry => ({
        specifier,
        condition,
        source: resolve(dir, source),
        report: join(dir, 'api', `${name}${condition ? `.${condition}` : ''}.api.md`),
      });
      entries.push(entry(undefined, target[SOURCE]));
      for (const [condition, nested] of Object.entries(target)) {
        if (isConditions(nested) && typeof nested[SOURCE] === 'string') {
          entries.push(entry(condition, nested[SOURCE]));
        }
      }
    }
  }
  return entries;
}

/** The reports present on disk (`packages/<dir>/api/*.api.md`), absolute, sorted. */
export function existingReports(root: string): string[] {
  return packageDirs(root).flatMap((dir) => {
    const api = join(dir, 'api');
    if (!existsSync(api)) return [];
    return readdirSync(api)
      .filter((file) => file.endsWith('.api.md'))
      .sort()
      .map((file) => join(api, file));
  });
}
