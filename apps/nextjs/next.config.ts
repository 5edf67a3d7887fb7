import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NextConfig } from 'next';

const root = join(import.meta.dirname, '../..');

/**
 * The workspace's `@idem/*` packages, each subpath aliased (exactly: the
 * trailing `$`) to its TypeScript source, the `@idem/source` export
 * condition the rest of the repo builds and tests against, so `next build`
 * compiles them with the app on a fresh clone, no package build first. An
 * app that installs idem from npm needs none of this: its packages ship
 * JavaScript.
 */
function sourceAliases(): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const group of ['packages', 'tools']) {
    for (const name of readdirSync(join(root, group))) {
      let manifest: { name?: string; exports?: Record<string, unknown> };
      try {
        manifest = JSON.parse(readFileSync(join(root, group, name, 'package.json'), 'utf8'));
      } catch {
        continue;
      }
      if (!manifest.name?.startsWith('@idem/')) continue;
      for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
        const source = (target as Record<string, unknown> | null)?.['@idem/source'];
        if (typeof source !== 'string') continue;
        aliases[`${manifest.name}${subpath.slice(1)}$`] = join(root, group, name, source);
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
  webpack(config: { resolve: { alias: object; extensionAlias?: object } }) {
    config.resolve.alias = { ...config.resolve.alias, ...sourceAliases() };
    config.resolve.extensionAlias = { '.js': ['.ts', '.js'] };
    return config;
  },
  // `tsc -b` typechecks the app with the repository (tsconfig.json); Next
  // gets its own file to adjust as it likes.
  typescript: { tsconfigPath: 'tsconfig.next.json', ignoreBuildErrors: true },
};

export default config;
