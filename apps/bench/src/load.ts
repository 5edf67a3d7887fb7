/**
 * The load generator: wrk when installed (about a third of autocannon's CPU
 * at these rates), autocannon otherwise, pinned to its own core with taskset
 * when available. Both send the same requests: POST /payments with the small
 * JSON body, with a fresh Idempotency-Key per request or one fixed key.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAYMENT_BODY } from './config.js';
import { quantile } from './stats.js';

export type Generator = 'wrk' | 'autocannon';

export interface Tools {
  readonly generator: Generator;
  /** `wrk --version` or the autocannon version. */
  readonly generatorVersion: string;
  readonly taskset: boolean;
}

export interface LoadOptions {
  readonly port: number;
  /** Whole seconds (wrk takes no fractions). */
  readonly seconds: number;
  readonly connections: number;
  /** `fresh`: `${key}-<thread>-<n>` per request; `fixed`: `key` on every request. */
  readonly keys: 'fresh' | 'fixed';
  readonly key: string;
  /** The CPU to pin the generator to. */
  readonly cpu?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses other than 2xx/3xx. */
  readonly non2xx: number;
  /** Connect, read, write errors and timeouts. */
  readonly errors: number;
}

function has(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    // `wrk --version` prints its banner and exits 1.
    const out = (error as { stdout?: string }).stdout;
    return out?.includes('wrk') ? out : undefined;
  }
}

export function detectTools(prefer?: Generator): Tools {
  const taskset = has('taskset', ['-c', '0', 'true']) !== undefined;
  const wrk = prefer === 'autocannon' ? undefined : has('wrk', ['--version']);
  if (wrk) {
    // "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer" -> "wrk debian/4.1.0-3+b2 [epoll]"
    const version = wrk
      .split('\n')[0]!
      .replace(/\s*Copyright.*$/, '')
      .trim();
    return { generator: 'wrk', generatorVersion: version, taskset };
  }
  if (prefer === 'wrk')
    throw new Error('wrk is not installed: apt-get install wrk, or drop --wrk.');
  return {
    generator: 'autocannon',
    generatorVersion: `autocannon ${autocannonVersion()}`,
    taskset,
  };
}

function autocannonVersion(): string {
  try {
    const out = execFileSync(
      process.execPath,
      ['-e', 'console.log(require("autocannon/package.json").version)'],
      { encoding: 'utf8', cwd: packageRoot() },
    );
    return out.trim();
  } catch {
    return '(unknown)';
  }
}

export function packageRoot(): string {
  // dist/*.js or src/*.ts: the package root is one level up.
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

let scriptDir: string | undefined;
function wrkScript(): string {
  scriptDir ??= mkdtempSync(join(tmpdir(), 'idem-bench-'));
  const path = join(scriptDir, 'payments.lua');
  const body = PAYMENT_BODY.replace(/"/g, '\\"');
  writeFileSync(
    path,
    `-- POST /payments; args: <fresh|fixed> <key>
wrk.method = "POST"
wrk.body = "${body}"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local mode, key, counter = "fresh", "k", 0
function init(args)
  mode = args[1]
  key = args[2]
  if mode == "fixed" then wrk.headers["Idempotency-Key"] = key end
  key = key .. "-" .. tostring(tid) .. "-"
end
function request()
  if mode == "fixed" then return wrk.format() end
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = key .. counter
  return wrk.format()
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"status\\":%d,\\"errors\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
`,
  );
  return path;
}

function pinned(cpu: number | undefined, taskset: boolean, command: string, args: string[]) {
  return cpu !== undefined && taskset
    ? { command: 'taskset', args: ['-c', String(cpu), command, ...args] }
    : { command, args };
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err || out}`));
    });
  });
}

export async function runLoad(tools: Tools, options: LoadOptions): Promise<LoadResult> {
  const url = `http://127.0.0.1:${options.port}/payments`;
  let out: string;
  if (tools.generator === 'wrk') {
    const { command, args } = pinned(options.cpu, tools.taskset, 'wrk', [
      '-t1',
      `-c${options.connections}`,
      `-d${Math.max(1, Math.round(options.seconds))}s`,
      '--timeout',
      '10s',
      '-s',
      wrkScript(),
      url,
      '--',
      options.keys,
      options.key,
    ]);
    out = await run(command, args);
  } else {
    const runner = join(packageRoot(), 'dist', 'autocannon-runner.js');
    const { command, args } = pinned(options.cpu, tools.taskset, process.execPath, [
      runner,
      JSON.stringify({ url, ...options, body: PAYMENT_BODY }),
    ]);
    out = await run(command, args);
  }
  const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`${tools.generator} printed no result:\n${out}`);
  const r = JSON.parse(line.slice('BENCH_JSON '.length)) as {
    requests: number;
    duration_us: number;
    p50_us: number;
    p99_us: number;
    status: number;
    errors: number;
  };
  const seconds = r.duration_us / 1e6;
  return {
    requests: r.requests,
    seconds,
    rps: r.requests / seconds,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    non2xx: r.status,
    errors: r.errors,
  };
}

/**
 * Quick mode's load: a fixed number of requests from a Node http client with
 * keep-alive connections. It proves a configuration answers; its figures are
 * not comparable with wrk's.
 */
export async function runCount(options: {
  port: number;
  keys: 'fresh' | 'fixed';
  key: string;
  requests: number;
  connections: number;
  /** Stop sending after this long, whatever the count. */
  maxSeconds?: number;
}): Promise<LoadResult> {
  const deadline = performance.now() + (options.maxSeconds ?? Number.POSITIVE_INFINITY) * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let next = 0;
  const one = (key: string) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        {
          agent,
          host: '127.0.0.1',
          port: options.port,
          method: 'POST',
          path: '/payments',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(PAYMENT_BODY),
            'idempotency-key': key,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            if ((res.statusCode ?? 0) >= 400) non2xx++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(PAYMENT_BODY);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (next < options.requests && performance.now() < deadline) {
        const n = next++;
        await one(options.keys === 'fixed' ? options.key : `${options.key}-1-${n}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    non2xx,
    errors,
  };
}
