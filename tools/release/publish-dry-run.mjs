// `npm publish --dry-run` of every published package's tarball, after
// pack.mjs built, packed and checked them: what `changeset publish` would
// send, minus the upload. Fails on any npm error, and on any npm warning but
// the one every dry run prints without a login.
//
//   node tools/release/publish-dry-run.mjs [--out <dir>] [--no-build]
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { packPackages } from './pack.mjs';

const execFileAsync = promisify(execFile);

/** What npm says on every dry run without credentials: not a problem of the package. */
const EXPECTED_WARNING = /requires you to be logged in .*\(dry-run\)/;

/**
 * This process's environment without what pnpm adds when it runs a script
 * (its own npm_config_* settings, which npm warns it does not know), but
 * with the user's registry, npmrc and cache.
 */
function npmEnv() {
  const keep = new Set(['npm_config_registry', 'npm_config_userconfig', 'npm_config_cache']);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('npm_') || keep.has(name)),
  );
  return { ...env, npm_config_color: 'false' };
}

/**
 * Runs `npm publish <tarball> --dry-run` and returns what went wrong, if anything.
 *
 * @param {{ name: string, version: string, file: string }} pkg
 * @returns {Promise<string | undefined>}
 */
async function dryRun({ name, version, file }) {
  let output;
  try {
    const { stdout, stderr } = await execFileAsync(
      'npm',
      ['publish', file, '--dry-run', '--access', 'public', '--tag', 'latest'],
      { encoding: 'utf8', maxBuffer: 16 << 20, env: npmEnv() },
    );
    output = `${stdout}${stderr}`;
  } catch (error) {
    return `${name}@${version}: npm publish --dry-run ${basename(file)} failed:\n${error.stdout ?? ''}${error.stderr ?? error.message}`;
  }
  const warnings = output
    .split('\n')
    .filter((line) => /^npm (warn|WARN|error|ERR)/.test(line) && !EXPECTED_WARNING.test(line));
  if (warnings.length > 0) {
    return `${name}@${version}: npm publish --dry-run ${basename(file)} warned (npm rewrites or refuses what it warns about: fix package.json):\n  ${warnings.join('\n  ')}`;
  }
  if (!output.includes(`+ ${name}@${version}`)) {
    return `${name}@${version}: npm publish --dry-run did not say it would publish it:\n${output}`;
  }
  return undefined;
}

const args = process.argv.slice(2);
const at = args.indexOf('--out');
try {
  const packed = packPackages({
    out: at === -1 ? undefined : args[at + 1],
    build: !args.includes('--no-build'),
  });
  const problems = [];
  // Four at a time: each npm process spends most of its time starting up.
  for (let i = 0; i < packed.length; i += 4) {
    const batch = packed.slice(i, i + 4);
    const results = await Promise.all(batch.map(dryRun));
    for (const [j, problem] of results.entries()) {
      if (problem) problems.push(problem);
      else console.error(`  npm publish --dry-run: ${batch[j].name}@${batch[j].version} ok`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`npm would not publish every package cleanly:\n- ${problems.join('\n- ')}`);
  }
  console.error(`npm publish --dry-run passed for all ${packed.length} packages`);
} catch (error) {
  console.error(error.message);
  process.exitCode = 1;
}
