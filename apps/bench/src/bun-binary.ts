/**
 * Where Bun's binary is: the `bun` devDependency's platform package
 * (`@oven/bun-linux-x64` here), called directly, so the bench needs neither
 * `bun`'s install script (pnpm does not run it) nor a global Bun.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The Bun executable, or `undefined` with the reason when it is not installed. */
export function bunBinary(): { path: string } | { missing: string } {
  let fromBun: NodeJS.Require;
  try {
    fromBun = createRequire(require.resolve('bun/package.json'));
  } catch {
    return { missing: 'the `bun` package is not installed (npx -y pnpm@10 install)' };
  }
  const platform = `@oven/bun-${process.platform}-${process.arch === 'arm64' ? 'aarch64' : process.arch}`;
  // The baseline build runs on CPUs without AVX2.
  for (const name of [platform, `${platform}-baseline`]) {
    try {
      const path = fromBun.resolve(`${name}/bin/bun`);
      if (existsSync(path)) return { path };
    } catch {}
  }
  return { missing: `${platform} (Bun's binary for this platform) is not installed` };
}
