import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Library, planUnits, type StoreKind, type Unit } from '../src/config.ts';
import { alignTables, renderMarkdown } from '../src/report.ts';
import type { Results, Row } from '../src/results.ts';
import { throughputSvg } from '../src/svg.ts';

const root = join(import.meta.dirname, '..', '..', '..');

/** What the machine did to each of six passes: every row moves with it, so pass-by-pass ratios stay put. */
const DRIFT = [1, 1.3, 0.7, 1.1, 0.9, 1];

function row(unit: Unit, phase: 'fresh' | 'replay', ratio: number, trips: number): Row {
  return {
    unit,
    phase,
    rps: ratio * 10_000,
    p50Ms: 1,
    p99Ms: 5,
    ratio,
    passRps: DRIFT.map((d) => ratio * 10_000 * d),
    passRatios: DRIFT.map(() => ratio),
    passes: DRIFT.map((_, i) => i),
    passCpuMicrosPerRequest: DRIFT.map(() => 100 / ratio),
    storeCallsPerRequest: trips,
    storeOpsPerRequest: trips ? { EVALSHA: trips } : {},
    cpuMicrosPerRequest: 100 / ratio,
    executionsPerRequest: phase === 'fresh' ? 1 : 0,
    non2xx: 0,
    errors: 0,
    requests: 10_000,
  };
}

function fixture(): Results {
  const units = planUnits({});
  // The cache row is ahead of idem's own: it must still neither count as a
  // peer nor stand in for idem in the targets.
  const ratios: Partial<Record<Library, number>> = {
    idem: 0.9,
    'idem-cache': 0.95,
    'node-idempotency': 0.5,
  };
  const rows = units
    .filter((u) => u.library !== 'bare')
    .flatMap((u) => {
      const r = ratios[u.library] ?? 0.4;
      const network = (['redis', 'postgres', 'dynamodb'] as StoreKind[]).includes(
        u.store as StoreKind,
      );
      const replayTrips = network && u.library !== 'idem-cache' ? 1 : 0;
      return [row(u, 'fresh', r, network ? 2 : 0), row(u, 'replay', r + 0.08, replayTrips)];
    });
  return {
    version: 1,
    date: '2026-11-23T00:00:00.000Z',
    commit: 'abc1234',
    runId: 'test',
    durationSeconds: 300,
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      memoryGiB: 24,
      node: 'v20.0.0',
      os: 'Linux',
      generator: 'wrk',
      taskset: true,
    },
    settings: {
      quick: false,
      passes: 6,
      seconds: 1,
      warmupSeconds: 1,
      connections: 10,
      storm: { keys: 200, sendsPerKey: 5, connections: 50, delayMs: 20 },
      memoryMaxRecords: 2_000_000,
      runFrom: 'dist',
      orderSeed: 7,
      confidence: 0.95,
    },
    bare: (['hono', 'express', 'fastify', 'web', 'bun'] as const).map((framework) => ({
      framework,
      rps: 10_000,
      p50Ms: 0.5,
      p99Ms: 3,
      passRps: DRIFT.map((d) => 10_000 * d),
      cpuMicrosPerRequest: 90,
      passes: DRIFT.map((_, i) => i),
      passCpuMicrosPerRequest: DRIFT.map(() => 90),
    })),
    rows,
    storms: units
      .filter((u) => u.library !== 'bare')
      .map((unit) => {
        const once = unit.library !== 'express-idempotency';
        return {
          unit,
          result: {
            keys: 200,
            sendsPerKey: 5,
            connections: 50,
            delayMs: 20,
            requests: 1000,
            statuses: { '201': 200, '409': 800 },
            executions: once ? 200 : 420,
            keysOnce: once ? 200 : 60,
            keysMoreThanOnce: once ? 0 : 140,
            keysNever: 0,
            maxPerKey: once ? 1 : 5,
            exactlyOnce: once,
            seconds: 1,
          },
        };
      }),
    fingerprint: [
      { label: '100 B', bytes: 100, fingerprintOpsPerSec: 1, baselineOpsPerSec: 2, ratio: 0.5 },
    ],
    unavailable: [{ name: 'hono-idempotency', reason: 'npm registry: 404 Not Found' }],
    failures: [],
    skippedStores: [],
    libraries: [
      'bare',
      'idem',
      'idem-cache',
      'express-idempotency',
      'node-idempotency',
      'powertools',
    ],
  };
}

describe('BENCHMARKS.md', () => {
  const markdown = renderMarkdown(fixture(), root);

  it('judges every target from the figures', () => {
    // Fresh keys at 0.90 and replays at 0.98: both memory targets met on all five servers.
    expect(markdown).toMatch(
      /\| memory store, fresh keys ≥ 0.85 × bare +\| 5 of 5 +\| \*\*met\*\* +\|/,
    );
    expect(markdown).toMatch(
      /\| memory store, replays ≥ 0.95 × bare +\| 5 of 5 +\| \*\*met\*\* +\|/,
    );
    // Twelve on the frameworks, two stores each on the Fetch handler on Node and Bun.
    expect(markdown).toMatch(/\| exactly once in the retry storm +\| 16 of 16 +\| \*\*met\*\* +\|/);
    expect(markdown).toMatch(
      /ahead of every peer on the same framework and store +\| 28 of 28 ahead \(tie 0, behind 0\) +\| \*\*met\*\*/,
    );
  });

  it('counts a peer comparison as ahead, tie or behind from both measures and their intervals', () => {
    const results = fixture();
    const at = (r: Row, framework: string, store: string, library: Library) =>
      r.unit.framework === framework && r.unit.store === store && r.unit.library === library;
    const rows = results.rows.map((r): Row => {
      // Hono, memory: the peer as fast as idem, pass for pass, but twice as costly: ahead on CPU alone.
      if (at(r, 'hono', 'memory', 'node-idempotency'))
        return {
          ...r,
          rps: 9_000,
          passRps: DRIFT.map((d) => 9_000 * d),
          passCpuMicrosPerRequest: DRIFT.map(() => 222),
        };
      // Express, memory: faster in some passes, slower in others, same CPU: a tie on both.
      if (at(r, 'express', 'memory', 'node-idempotency'))
        return {
          ...r,
          passRps: DRIFT.map((d, i) => (i % 2 === 0 ? 12_000 : 6_000) * d),
          passCpuMicrosPerRequest: DRIFT.map((_, i) => (i % 2 === 0 ? 90 : 135)),
        };
      // Fastify, Redis: faster than idem every pass, CPU tied: behind.
      if (at(r, 'fastify', 'redis', 'powertools'))
        return {
          ...r,
          passRps: DRIFT.map((d, i) => 12_000 * d * (1 + 0.01 * i)),
          passCpuMicrosPerRequest: DRIFT.map((_, i) => (i % 2 === 0 ? 100 : 125)),
        };
      // Fastify, DynamoDB: faster every pass but costlier every pass: a tie (ahead on one, behind on the other).
      if (at(r, 'fastify', 'dynamodb', 'powertools'))
        return {
          ...r,
          passRps: DRIFT.map((d) => 12_000 * d),
          passCpuMicrosPerRequest: DRIFT.map(() => 200),
        };
      return r;
    });
    const md = renderMarkdown({ ...results, rows }, root);
    // Two phases each: 2 × (tie on Express memory, behind on Fastify Redis, tie on Fastify DynamoDB).
    expect(md).toMatch(
      /ahead of every peer on the same framework and store +\| 22 of 28 ahead \(tie 4, behind 2\) +\| \*\*missed\*\*/,
    );
    const line = (where: string, peer: string) =>
      md
        .split('\n')
        .find(
          (l) =>
            l.startsWith(`| ${where} `) && l.includes(`| ${peer} `) && l.includes('fresh keys'),
        );
    expect(line('Hono 4, memory', '@node-idempotency/core')).toMatch(
      /\| +1\.00 \[1\.00, 1\.00\] tie \| +9,000 vs 9,000 \| +2\.00 \[2\.00, 2\.00\] ahead \|.*\| \*\*ahead\*\* +\|$/,
    );
    expect(line('Express 5, memory', '@node-idempotency/core')).toMatch(
      /\] tie \|.*\] tie \|.*\| tie +\|$/,
    );
    expect(line('Fastify 5, Redis', '@aws-lambda-powertools/idempotency')).toMatch(
      /\] behind \|.*\] tie \|.*\| \*\*behind\*\* +\|$/,
    );
    expect(line('Fastify 5, DynamoDB (dynalite)', '@aws-lambda-powertools/idempotency')).toMatch(
      /\] behind \|.*\] ahead \|.*\| tie +\|$/,
    );
  });

  it('pairs passes by number, so a pass one row missed pairs nothing', () => {
    const results = fixture();
    const rows = results.rows.map((r): Row => {
      if (r.unit.framework !== 'hono' || r.unit.store !== 'memory') return r;
      // The peer (0.5 × bare against idem's 0.9) failed in pass 1: its entries are passes
      // 0, 2, 3, 4, 5. Paired by position, its pass 2 (drift 0.7) would meet idem's pass 1
      // (drift 1.3) and the ratios would spread; paired by pass number they are all 1.8.
      if (r.unit.library !== 'node-idempotency') return r;
      const keep = [0, 2, 3, 4, 5];
      return {
        ...r,
        passes: keep,
        passRps: keep.map((i) => r.passRps[i]!),
        passCpuMicrosPerRequest: keep.map((i) => r.passCpuMicrosPerRequest![i]!),
      };
    });
    const md = renderMarkdown({ ...results, rows }, root);
    expect(
      md.split('\n').find((l) => l.startsWith('| Hono 4, memory ') && l.includes('fresh keys')),
    ).toMatch(/\| +1\.80 \[1\.80, 1\.80\] ahead \|/);
  });

  it('renders results from before per-pass CPU and pass numbers, judging req/s alone, and says so', () => {
    const results = fixture();
    const rows = results.rows.map(({ passes: _p, passCpuMicrosPerRequest: _c, ...r }): Row => r);
    const { orderSeed: _s, confidence: _k, ...settings } = results.settings;
    const md = renderMarkdown({ ...results, settings, rows }, root);
    expect(md).toContain('these verdicts judge req/s alone');
    expect(md).toContain('reversed every other pass');
    expect(md).toMatch(
      /ahead of every peer on the same framework and store +\| 28 of 28 ahead \(tie 0, behind 0\)/,
    );
  });

  it('refuses a results.json without per-pass figures, saying what is missing', () => {
    const results = fixture();
    const rows = results.rows.map(({ passRps: _r, ...r }) => r) as unknown as Row[];
    expect(() => renderMarkdown({ ...results, rows }, root)).toThrow(
      /Cannot render this results\.json: hono\/memory\/idem fresh has no per-pass figures/,
    );
  });

  it('calls a comparison of one pass a tie: no interval without a spread', () => {
    const results = fixture();
    const rows = results.rows.map(
      (r): Row => ({
        ...r,
        passRps: [r.passRps[0]!],
        passRatios: [r.passRatios[0]!],
        passes: [0],
        passCpuMicrosPerRequest: [r.passCpuMicrosPerRequest![0]!],
      }),
    );
    const md = renderMarkdown({ ...results, rows }, root);
    expect(md).toMatch(
      /ahead of every peer on the same framework and store +\| 0 of 28 ahead \(tie 28, behind 0\) +\| \*\*not shown\*\* \(ties only\)/,
    );
    expect(md).toContain('[one pass: no interval]');
  });

  it('shows the replay cache as rows of its own, on the network stores only, never as a peer', () => {
    const cacheRows = markdown
      .split('\n')
      .filter((line) => line.startsWith('| **idem**, replay cache on '));
    // Three frameworks × three network stores × two phases, and nine storms.
    expect(cacheRows.filter((line) => /fresh keys|replays/.test(line))).toHaveLength(18);
    expect(cacheRows.some((line) => line.includes('| memory '))).toBe(false);
    expect(markdown).toMatch(
      /\| \*\*idem\*\*, replay cache on +\| Redis +\| replays +\| +10,300 \|/,
    );
    expect(markdown).not.toMatch(/ahead of idem, replay cache on/);
    // idem's own targets stand: one round trip per replay, the cache row's zero left out.
    expect(markdown).toMatch(
      /\| network store: at most 1 round trip for a replay +\| 11 of 11 +\| \*\*met\*\* +\|/,
    );
    expect(markdown).toMatch(/\| exactly once in the retry storm +\| 16 of 16 +\| \*\*met\*\* +\|/);
    expect(markdown).toContain(
      '- **idem, replay cache on**: the same, plus `cache: replayCache()`',
    );
  });

  it('gives a CPU difference below bare its own sign', () => {
    const results = fixture();
    const rows = results.rows.map((r) =>
      r.unit.library === 'idem-cache' && r.phase === 'replay'
        ? { ...r, cpuMicrosPerRequest: 70 }
        : r,
    );
    expect(renderMarkdown({ ...results, rows }, root)).toMatch(/\| +70 \(−20\) \|/);
  });

  it('compares @idem/web with its bare handler and with @idem/hono, pass by pass', () => {
    const section = markdown.slice(markdown.indexOf('## The Fetch handler adapter'));
    // Bare Bun.serve against bare Hono, then the fixture's 0.9 × bare for fresh keys on memory.
    expect(section).toMatch(
      /\| Fetch handler on Bun\.serve +\| bare handler +\|.*\| +1\.00 × bare Hono \|/,
    );
    expect(section).toMatch(
      /\| Fetch handler on Node +\| \*\*@idem\/web\*\* +\| memory +\| fresh keys +\| +9,000 \| +\*\*0\.90\*\* \| +111 \(\+21\) \| +1\.00 \| +111 \(\+21\) \|/,
    );
  });

  it('reports a peer that ran a handler twice, with its counts', () => {
    expect(markdown).toContain('**no**: 60 keys once, 140 more than once (up to 5×), 0 never');
  });

  it('names the peers that do not install', () => {
    expect(markdown).toContain('`hono-idempotency`: npm registry: 404 Not Found');
  });

  it('draws a chart with a bar per library and phase', () => {
    const svg = throughputSvg(fixture());
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('<title id="chart-title">');
    expect(svg.match(/<rect x="128"/g)?.length).toBe(fixture().rows.length);
  });
});

describe('alignTables', () => {
  it('pads every table of a section rendered elsewhere, keeping right-aligned columns right', () => {
    const raw = 'text\n| a | b |\n|---|---:|\n| long cell | 1 |\n| x | 22 |\nafter';
    expect(alignTables(raw)).toBe(
      'text\n| a         |   b |\n| --------- | --: |\n| long cell |   1 |\n| x         |  22 |\nafter',
    );
  });
});
