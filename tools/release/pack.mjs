// Packs every published package (packages/* without "private": true) the
// way `pnpm publish` would, after building it, and refuses a tarball that
// lacks a file its package.json points at.
//
//   node tools/release/pack.mjs [--out <dir>] [--no-build] [--json]
//
// --out       where the tarballs go (default .tmp/pack); its old *.tgz are removed first
// --no-build  pack what dist/ holds now (the check still refuses a tarball without it)
// --json      print [{ name, version, dir, file }] on stdout (the log goes to stderr)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tarballManifest, tarballProblems } from './tarball.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The packages npm will see: each folder in packages/ whose package.json is
 * not private.
 *
 * @returns {{ name: string, version: string, dir: string }[]}
 */
export function publishedPackages() {
  const packages = join(root, 'packages');
  return readdirSync(packages, { withFileTypes: true })
    .filter(
      (entry) => entry.isDirectory() && existsSync(join(packages, entry.name, 'package.json')),
    )
    .map((entry) => {
      const dir = join(packages, entry.name);
      const {
        name,
        version,
        private: isPrivate,
      } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      return { name, version, dir, isPrivate };
    })
    .filter((pkg) => !pkg.isPrivate)
    .map(({ name, version, dir }) => ({ name, version, dir }));
}

/** A tool from the root's devDependencies (turbo, pnpm), or a message saying to install. */
function tool(name) {
  const bin = join(root, 'node_modules', '.bin', name);
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing. Fix: run npx -y pnpm@10 install at the repository root.`);
  }
  return bin;
}

function run(bin, args, what) {
  try {
    return execFileSync(bin, args, {
      cwd: root,
      // turbo looks for the package manager (pnpm, a root devDependency) on PATH.
      env: {
        ...process.env,
        PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
      },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const { stdout = '', stderr = '' } = error;
    throw new Error(`${what} failed:\n${stdout}${stderr}`, { cause: error });
  }
}

/**
 * Builds (through turbo, so an unchanged package comes from its cache) and
 * packs every published package, then checks each tarball.
 *
 * @param {{ out?: string, build?: boolean, log?: (line: string) => void }} [options]
 *   `out`: the folder for the tarballs (@default `.tmp/pack` at the root);
 *   `build`: build first (@default true); `log`: progress (@default stderr).
 * @returns {{ name: string, version: string, dir: string, file: string }[]}
 * @throws {Error} When a build or pack fails, or a tarball lacks a file its
 *   package.json points at; the message names each package and the fix.
 */
export function packPackages(options = {}) {
  const out = resolve(root, options.out ?? '.tmp/pack');
  const build = options.build ?? true;
  const log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  const packages = publishedPackages();
  const filters = packages.flatMap((pkg) => ['--filter', pkg.name]);

  if (build) {
    log(`building ${packages.length} packages (turbo run build)`);
    const only = packages.map((pkg) => `--filter=${pkg.name}`);
    run(tool('turbo'), ['run', 'build', ...only, '--output-logs=errors-only'], 'turbo run build');
  }

  mkdirSync(out, { recursive: true });
  for (const old of readdirSync(out).filter((file) => file.endsWith('.tgz'))) {
    rmSync(join(out, old));
  }
  log(`packing into ${out}`);
  // One recursive pnpm pack: it applies publishConfig and turns workspace: ranges into versions.
  run(tool('pnpm'), ['-r', ...filters, 'pack', '--pack-destination', out], 'pnpm pack');

  const byName = new Map(
    readdirSync(out)
      .filter((file) => file.endsWith('.tgz'))
      .map((file) => [tarballManifest(join(out, file)).name, join(out, file)]),
  );
  const packed = [];
  const problems = [];
  for (const pkg of packages) {
    const file = byName.get(pkg.name);
    if (!file) {
      problems.push(`${pkg.name}: pnpm pack wrote no tarball for it into ${out}.`);
      continue;
    }
    problems.push(...tarballProblems(file));
    packed.push({ ...pkg, file });
  }
  if (problems.length > 0) {
    throw new Error(`the tarballs are not fit to publish:\n- ${problems.join('\n- ')}`);
  }
  for (const { name, version, file } of packed) log(`  ${name}@${version}  ${file}`);
  log(`${packed.length} tarballs, each holding every file its package.json points at`);
  return packed;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  try {
    const packed = packPackages({
      out: at === -1 ? undefined : args[at + 1],
      build: !args.includes('--no-build'),
    });
    if (args.includes('--json')) process.stdout.write(`${JSON.stringify(packed)}\n`);
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  }
}
