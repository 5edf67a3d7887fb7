/** The paths inside a tarball, without npm's leading `package/`. */
export function tarballFiles(file: string): string[];
/** The package.json inside a tarball, as npm will publish it. */
export function tarballManifest(file: string): Record<string, unknown>;
/**
 * What is wrong with a tarball: each file its package.json points at that it
 * does not hold, a `workspace:` range, the repository-only export condition.
 * Each message names the package and the fix; empty when the tarball is whole.
 */
export function tarballProblems(file: string): string[];
