import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createIdempotency } from '@idem/core';
import { type CpuPressure, cpuPressure } from '@idem/test-pressure';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';
import { connect, connectAs, freshPrefix, LIBRARIES, redisUp, url } from './helpers.js';

const up = await redisUp();

/** How often each key's operation ran; the counters are deleted once read. */
async function runsPerKey(admin: Redis, prefix: string, keys: string[]): Promise<number[]> {
  const counters = keys.map((k) => `${prefix}runs:${k}`);
  const counts = await admin.mget(counters);
  await admin.del(counters);
  return counts.map(Number);
}

describe.skipIf(!up)('two app instances on one Redis racing the same keys', () => {
  let admin: Redis;
  beforeAll(async () => {
    admin = await connect();
  });
  afterAll(() => admin?.disconnect());
  // A race that only holds on an idle machine proves nothing: each runs with
  // busy cores and a late event loop (the children's start-up excepted).
  let pressure: CpuPressure | undefined;
  afterEach(async () => {
    await pressure?.stop();
    pressure = undefined;
  });

  it('an ioredis and a node-redis client in one process: every operation runs exactly once', async () => {
    const prefix = freshPrefix('race-clients');
    const clients = [await connectAs('ioredis'), await connectAs('node-redis')];
    pressure = cpuPressure();
    try {
      const engines = clients.map(({ client }) =>
        createIdempotency({
          store: redisStore({ client, prefix }),
          concurrent: 'wait',
          ttlMs: 60_000,
        }),
      );
      const keys = Array.from({ length: 25 }, (_, i) => `order-${i}`);
      const outcomes = await Promise.all(
        keys.flatMap((key) =>
          Array.from({ length: 8 }, (_, i) =>
            engines[i % 2]!.run(key, async () => {
              await admin.incr(`${prefix}runs:${key}`);
              await new Promise((r) => setTimeout(r, 20));
              return key;
            }),
          ),
        ),
      );
      expect(await runsPerKey(admin, prefix, keys)).toEqual(keys.map(() => 1));
      expect(outcomes.filter((o) => o.kind === 'executed')).toHaveLength(keys.length);
      expect(outcomes.every((o, i) => o.value === keys[Math.floor(i / 8)])).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('two processes, one on ioredis and one on node-redis: every operation runs exactly once', async ({
    annotate,
  }) => {
    const prefix = freshPrefix('race-processes');
    const count = 20;
    // tsx (the workspace's TypeScript runner) loads the child from source, like vitest does.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const child = fileURLToPath(new URL('./race-child.ts', import.meta.url));
    const children: ChildProcess[] = LIBRARIES.map((library, i) =>
      spawn(
        process.execPath,
        [
          '--conditions=@idem/source',
          '--import',
          tsx,
          child,
          url,
          prefix,
          String(count),
          i === 0 ? 'ascending' : 'descending',
          library,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      ),
    );
    const lines = children.map((c) => {
      const out: string[] = [];
      let buffered = '';
      const ready = new Promise<void>((resolve, reject) => {
        c.on('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
        c.stdout!.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const parts = buffered.split('\n');
          buffered = parts.pop()!;
          out.push(...parts);
          if (out.includes('ready')) resolve();
        });
      });
      const done = new Promise<number | null>((resolve) => c.on('exit', resolve));
      return { out, ready, done };
    });
    try {
      await Promise.all(lines.map((l) => l.ready));
      pressure = cpuPressure();
      for (const c of children) c.stdin!.end('go\n');
      expect(await Promise.all(lines.map((l) => l.done))).toEqual([0, 0]);
      const perProcess = lines.map((l) => JSON.parse(l.out.at(-1)!) as string[]);
      const executed = perProcess.map((s) => s.filter((x) => x === 'executed').length);
      await annotate(`executed per process: ${executed.join(' + ')} = ${count} keys`, 'figures');
      const statuses = perProcess.flat();
      expect(statuses).toHaveLength(2 * 3 * count);
      expect(statuses.filter((s) => s === 'executed')).toHaveLength(count);
      const keys = Array.from({ length: count }, (_, i) => `order-${i}`);
      expect(await runsPerKey(admin, prefix, keys)).toEqual(keys.map(() => 1));
    } finally {
      for (const c of children) c.kill();
    }
  }, 30_000);
});
