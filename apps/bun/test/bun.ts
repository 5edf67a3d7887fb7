import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { reachServer } from '@idem/conformance';
import type { Runtime } from '@idem/test-runtimes';

/**
 * Bun, from the npm registry: the `bun` devDependency's platform package
 * (`@oven/bun-linux-x64` here), whose binary is run directly, so no install
 * script has to run (pnpm skips `bun`'s postinstall, which would only copy
 * the same binary over a placeholder). `BUN_BIN` overrides it.
 */
export function bunBinary(): string {
  if (process.env.BUN_BIN) return process.env.BUN_BIN;
  const fromBun = createRequire(createRequire(import.meta.url).resolve('bun/package.json'));
  const platform = `@oven/bun-${process.platform}-${process.arch}`;
  // pnpm installs the one platform package that fits: glibc's, or musl's.
  for (const name of [platform, `${platform}-musl`]) {
    try {
      return join(dirname(fromBun.resolve(`${name}/package.json`)), 'bin', 'bun');
    } catch {}
  }
  throw new Error(`${platform} is not installed (pnpm install installs it with bun)`);
}

/** The app's folder: Bun runs its files from there, with the workspace's sources. */
export const appDir = new URL('..', import.meta.url).pathname;

/** Whether Bun runs here: a loud skip when not, a failure with CI=true. */
export async function bunAvailable(): Promise<boolean> {
  let binary: string | undefined;
  let missing: unknown;
  try {
    binary = bunBinary();
  } catch (error) {
    missing = error;
  }
  const where = binary ?? `@oven/bun-${process.platform}-${process.arch} (the bun devDependency)`;
  return reachServer('Bun', where, async () => {
    if (!binary) throw missing;
    await promisify(execFile)(binary, ['--version'], { timeout: 60_000 });
  });
}

/** A Bun process running `file` (relative to the app) with the workspace's TypeScript sources. */
export interface BunProcess {
  /** The first line it printed: the URL it serves. */
  readonly url: string;
  /** What it printed on stderr so far. */
  readonly stderr: () => string;
  stop(): Promise<void>;
}

/** Start `bun <file> ...args` and wait for the URL it prints first. */
export async function startBun(
  file: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<BunProcess> {
  const child: ChildProcess = spawn(bunBinary(), ['--conditions=@idem/source', file, ...args], {
    cwd: appDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('no URL within 60 s')), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`bun ${file}: ${error.message}\n${stderr}`));
    };
    child.on('exit', (code) => fail(new Error(`exited with ${code}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.indexOf('\n');
      if (line >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, line).trim());
      }
    });
  });
  return {
    url,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The bridge's runtime: test servers started and stopped by the harness's control endpoint. */
export function harnessRuntime(harness: BunProcess): Runtime {
  return {
    async start(spec) {
      const response = await fetch(`${harness.url}/servers`, {
        method: 'PUT',
        body: JSON.stringify(spec),
      });
      const text = await response.text();
      if (!response.ok)
        throw new Error(`the harness refused server ${spec.id}: ${text}\n${harness.stderr()}`);
      return text;
    },
    async stop(id) {
      await fetch(`${harness.url}/servers/${id}`, { method: 'DELETE' });
    },
  };
}
