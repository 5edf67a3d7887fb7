import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Library, planUnits, type StoreKind, type Unit } from '../src/config.ts';
import { renderMarkdown } from '../src/report.ts';
import type { Results, Row } from '../src/results.ts';
import { throughputSvg } from '../src/svg.ts';

const root = join(import.meta.dirname, '..', '..', '..');

function row(unit: Unit, phase: 'fresh' | 'replay', ratio: number, trips: number): Row {
  return {
    unit,
    phase,
    rps: ratio * 10_000,
    p50Ms: 1,
    p99Ms: 5,
    ratio,
    passRps: [ratio * 10_000],
    passRatios: [ratio],
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
      passes: 3,
      seconds: 1,
      warmupSeconds: 1,
      connections: 10,
      storm: { keys: 200, sendsPerKey: 5, connections: 50, delayMs: 20 },
      memoryMaxRecords: 2_000_000,
      runFrom: 'dist',
    },
    bare: (['hono', 'express', 'fastify', 'web', 'bun'] as const).map((framework) => ({
      framework,
      rps: 10_000,
      p50Ms: 0.5,
      p99Ms: 3,
      passRps: [10_000],
      cpuMicrosPerRequest: 90,
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
      /ahead of every peer on the same framework and store +\| (\d+) of \1 +\| \*\*met\*\*/,
    );
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
      /\| network store: 1 round trip for a replay +\| 11 of 11 +\| \*\*met\*\* +\|/,
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
