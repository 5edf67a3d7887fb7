import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NextConfig } from 'next';

const root = join(import.meta.dirname, '../..');

/** An `@idem/source` target: a path, or paths by runtime (`node`, `default`). */
type Source = string | { node?: string; default?: string };

/**
 * The workspace's `@idem/*` packages, each entry aliased (exactly: the
 * trailing `$`) to its TypeScript source, the `@idem/source` export
 * condition the rest of the repo builds and tests against, so `next build`
 * compiles them with the app on a fresh clone, no package build first. Their
 * `imports` too (`#native-sha256` in @idem/core), by runtime: Node's file
 * for the Node.js runtime, the Web one elsewhere. An app that installs idem
 * from npm needs none of this: its packages ship JavaScript.
 */
function sourceAliases(node: boolean): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const group of ['packages', 'tools']) {
    for (const name of readdirSync(join(root, group))) {
      let manifest: { name?: string; exports?: object; imports?: object };
      try {
        manifest = JSON.parse(readFileSync(join(root, group, name, 'package.json'), 'utf8'));
      } catch {
        continue;
      }
      if (!manifest.name?.startsWith('@idem/')) continue;
      const entries = [
        ...Object.entries(manifest.exports ?? {}).map(([s, t]) => [
          `${manifest.name}${s.slice(1)}`,
          t,
        ]),
        ...Object.entries(manifest.imports ?? {}),
      ];
      for (const [specifier, target] of entries) {
        const source = (target as { '@idem/source'?: Source } | null)?.['@idem/source'];
        const path =
          typeof source === 'string'
            ? source
            : node
              ? (source?.node ?? source?.default)
              : source?.default;
        if (path !== undefined) aliases[`${specifier}$`] = join(root, group, name, path);
      }
    }
  }
  return aliases;
}

const config: NextConfig = {
  // Webpack, not Turbopack: the sources import each other as TypeScript
  // compiles them (`./errors.js` for errors.ts), which only webpack's
  // extensionAlias resolves (vercel/next.js#82945), so build with
  // `next build --webpack`.
  webpack(
    config: { resolve: { alias: object; extensionAlias?: object } },
    { nextRuntime }: { nextRuntime?: string },
  ) {
    config.resolve.alias = { ...config.resolve.alias, ...sourceAliases(nextRuntime === 'nodejs') };
    config.resolve.extensionAlias = { '.js': ['.ts', '.js'] };
    return config;
  },
  // `tsc -b` typechecks the app with the repository (tsconfig.json); Next
  // gets its own file to adjust as it likes.
  typescript: { tsconfigPath: 'tsconfig.next.json', ignoreBuildErrors: true },
};

export default config;
