/**
 * Renders BENCHMARKS.md and the chart from a results.json, so a rerun
 * reproduces both. The analysis of misses (profiles, reasons) is prose kept in
 * apps/bench/ANALYSIS.md and included verbatim.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { intervalText, type PeerCase, peerComparisons } from './compare.js';
import {
  FRAMEWORK_LABEL,
  FRAMEWORKS,
  isOurs,
  LIBRARY_LABEL,
  LIBRARY_PACKAGES,
  type Library,
  PAYMENT_BODY,
  STORE_LABEL,
  STORES,
  type StoreKind,
  type Unit,
  unitId,
} from './config.js';
import { costSection } from './cost/render.js';
import type { CostResults } from './cost/types.js';
import { lambdaSection, lambdaVerdicts } from './lambda/render.js';
import type { LambdaResults } from './lambda/types.js';
import type { RedisCpuResults, Results, Row } from './results.js';
import { CONFIDENCE, logRatioInterval, median, type Standing } from './stats.js';
import { throughputSvg } from './svg.js';

const CHART = 'apps/bench/results/throughput.svg';

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const fixed = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '—');
/** Ratios to bare: 3 decimals below 0.1, where 2 would hide the difference. */
const ratio = (n: number) => fixed(n, Number.isFinite(n) && n < 0.1 ? 3 : 2);
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : '—');

/** A difference with its sign: a replay cache row can cost less CPU than the bare run it is compared with. */
const signed = (n: number) => (n < 0 ? `−${int(-n)}` : `+${int(n)}`);

/** A library's name in the tables: idem's own rows in bold (the cache row as its own row). */
const libraryName = (library: Library) =>
  library === 'idem'
    ? '**idem**'
    : library === 'idem-cache'
      ? '**idem**, replay cache on'
      : LIBRARY_LABEL[library];

/** A Markdown table, padded the way Biome formats Markdown (so `biome check` passes on the output). */
function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align?: string,
): string {
  const a = align ?? header.map(() => 'l').join('');
  const widths = header.map((h, i) =>
    Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const cells = (r: readonly string[]) =>
    `| ${widths.map((w, i) => (a[i] === 'r' ? (r[i] ?? '').padStart(w) : (r[i] ?? '').padEnd(w))).join(' | ')} |`;
  const sep = `| ${widths.map((w, i) => (a[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [cells(header), sep, ...rows.map(cells)].join('\n');
}

/**
 * Re-render every table of `markdown` aligned, as {@link table} writes them
 * (and as biome formats markdown), for sections rendered elsewhere.
 */
export function alignTables(markdown: string): string {
  const out: string[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; ) {
    if (!lines[i]!.startsWith('|')) {
      out.push(lines[i++]!);
      continue;
    }
    const block: string[][] = [];
    while (i < lines.length && lines[i]!.startsWith('|')) {
      block.push(
        lines[i++]!.slice(1, -1)
          .split('|')
          .map((cell) => cell.trim()),
      );
    }
    const [header, separator, ...rows] = block;
    const align = (separator ?? []).map((cell) => (cell.endsWith(':') ? 'r' : 'l')).join('');
    out.push(table(header ?? [], rows, align));
  }
  return out.join('\n');
}

function opsText(row: Row): string {
  const ops = Object.entries(row.storeOpsPerRequest)
    .filter(([, n]) => n >= 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${fixed(n)}`);
  return ops.length > 0 ? ops.join(', ') : '';
}

function roundTrips(row: Row): string {
  if (row.unit.store === 'memory') return '0 (in process)';
  const ops = opsText(row);
  return `**${fixed(row.storeCallsPerRequest)}**${ops ? ` (${ops})` : ''}`;
}

function versions(root: string): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'apps/bench/package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  return { ...pkg.dependencies, ...pkg.devDependencies };
}

const rowsOf = (results: Results, unit: Pick<Unit, 'framework' | 'store'>, library: Library) =>
  results.rows.filter(
    (r) =>
      r.unit.framework === unit.framework &&
      r.unit.store === unit.store &&
      r.unit.library === library,
  );
const rowOf = (
  results: Results,
  unit: Pick<Unit, 'framework' | 'store'>,
  library: Library,
  phase: 'fresh' | 'replay',
) => rowsOf(results, unit, library).find((r) => r.phase === phase);

function throughputTables(results: Results): string {
  const out: string[] = [];
  for (const framework of FRAMEWORKS) {
    const bare = results.bare.find((b) => b.framework === framework);
    const rows = results.rows.filter((r) => r.unit.framework === framework);
    if (!bare && rows.length === 0) continue;
    out.push(`### ${FRAMEWORK_LABEL[framework]}\n`);
    const lines: string[][] = [];
    if (bare) {
      lines.push([
        'bare framework',
        '—',
        '—',
        `**${int(bare.rps)}**`,
        '1.00',
        ms(bare.p50Ms),
        ms(bare.p99Ms),
        int(bare.cpuMicrosPerRequest),
        '—',
      ]);
    }
    for (const store of STORES) {
      for (const row of rows.filter((r) => r.unit.store === store)) {
        const ours = isOurs(row.unit.library);
        const name = libraryName(row.unit.library);
        const errors = row.non2xx + row.errors;
        lines.push([
          name,
          STORE_LABEL[store],
          row.phase === 'fresh' ? 'fresh keys' : 'replays',
          int(row.rps),
          ours ? `**${ratio(row.ratio)}**` : ratio(row.ratio),
          ms(row.p50Ms),
          ms(row.p99Ms),
          bare
            ? `${int(row.cpuMicrosPerRequest)} (${signed(row.cpuMicrosPerRequest - bare.cpuMicrosPerRequest)})`
            : int(row.cpuMicrosPerRequest),
          `${roundTrips(row)}${errors ? `; ${int(errors)} non-2xx or failed of ${int(row.requests)}` : ''}`,
        ]);
      }
    }
    out.push(
      table(
        [
          'library',
          'store',
          'requests',
          'req/s',
          '× bare',
          'p50 ms',
          'p99 ms',
          'server CPU µs/req (+ over bare)',
          'store round trips per request',
        ],
        lines,
        'lllrrrrrl',
      ),
      '',
    );
  }
  return out.join('\n');
}

/** Median over passes of `a[i] / b[i]`: two rows compared pass by pass, as × bare is. */
const perPass = (a: readonly number[], b: readonly number[]) =>
  median(a.map((x, i) => x / (b[i] ?? Number.NaN)));

/**
 * `@idem/web` (the Fetch handler adapter) against its bare handler on the
 * same server, and against `@idem/hono` on the Node server both share: req/s
 * pass by pass, and the server CPU each adds over its own bare run.
 */
function webSection(results: Results): string {
  const honoBare = results.bare.find((b) => b.framework === 'hono');
  const lines: string[][] = [];
  for (const framework of ['web', 'bun'] as const) {
    const bare = results.bare.find((b) => b.framework === framework);
    const name = FRAMEWORK_LABEL[framework].split(' (')[0]!;
    if (!bare) continue;
    lines.push([
      name,
      'bare handler',
      '—',
      '—',
      int(bare.rps),
      '1.00',
      int(bare.cpuMicrosPerRequest),
      honoBare ? `${fixed(perPass(bare.passRps, honoBare.passRps))} × bare Hono` : '—',
      honoBare ? `bare Hono ${int(honoBare.cpuMicrosPerRequest)}` : '—',
    ]);
    for (const store of ['memory', 'redis'] as const) {
      for (const phase of ['fresh', 'replay'] as const) {
        const row = rowOf(results, { framework, store }, 'idem', phase);
        if (!row) continue;
        const hono = rowOf(results, { framework: 'hono', store }, 'idem', phase);
        const honoAdded =
          hono && honoBare ? hono.cpuMicrosPerRequest - honoBare.cpuMicrosPerRequest : Number.NaN;
        lines.push([
          name,
          '**@idem/web**',
          STORE_LABEL[store],
          phase === 'fresh' ? 'fresh keys' : 'replays',
          int(row.rps),
          `**${ratio(row.ratio)}**`,
          `${int(row.cpuMicrosPerRequest)} (${signed(row.cpuMicrosPerRequest - bare.cpuMicrosPerRequest)})`,
          hono ? fixed(perPass(row.passRps, hono.passRps)) : '—',
          hono ? `${int(hono.cpuMicrosPerRequest)} (${signed(honoAdded)})` : '—',
        ]);
      }
    }
  }
  if (lines.length === 0) return 'Not measured in this run.';
  return table(
    [
      'server',
      'library',
      'store',
      'requests',
      'req/s',
      '× bare handler',
      'server CPU µs/req (+ over bare handler)',
      '× @idem/hono req/s',
      '@idem/hono CPU µs/req (+ over bare Hono)',
    ],
    lines,
    'lllrrrrrr',
  );
}

function stormTable(results: Results): string {
  const lines = results.storms.map(({ unit, variant, result }) => {
    const verdict = result.exactlyOnce
      ? `**yes**: ${result.keys}/${result.keys} keys once`
      : `**no**: ${result.keysOnce} keys once, ${result.keysMoreThanOnce} more than once (up to ${result.maxPerKey}×), ${result.keysNever} never`;
    const statuses = Object.entries(result.statuses)
      .sort()
      .map(([code, n]) => `${code}×${n}`)
      .join(', ');
    return [
      FRAMEWORK_LABEL[unit.framework].split(' (')[0]!,
      STORE_LABEL[unit.store],
      `${libraryName(unit.library)}${variant ? `, ${variant}` : ''}`,
      verdict,
      `${result.executions} for ${result.keys} keys`,
      statuses,
    ];
  });
  return table(
    [
      'framework',
      'store',
      'library',
      'handler ran exactly once per key?',
      'executions',
      'responses',
    ],
    lines,
  );
}

interface Verdict {
  readonly target: string;
  readonly where: string;
  readonly figure: string;
  readonly met: boolean;
  /** For the peer comparisons: ahead, tie or behind, from the intervals (`met` is ahead). */
  readonly standing?: Standing;
}

/** The group every peer comparison is counted under in the targets table. */
const AHEAD_OF_PEERS = 'ahead of every peer on the same framework and store';

/** `0.31 × (0.25–0.39 at 95 %; passes: 0.39, 0.21, …)`: a ratio to bare with its interval and passes. */
function bareRatioFigure(row: Row, confidence: number): string {
  const interval = logRatioInterval(row.passRatios, confidence);
  const passes = row.passRatios.map((r) => fixed(r)).join(', ');
  if (interval.n < 2) return `${fixed(row.ratio)} × (passes: ${passes})`;
  return `${fixed(row.ratio)} × (geometric mean ${intervalText(interval)}; passes: ${passes})`;
}

/** The Redis CPU targets: what one Redis core spends per idem request. */
const REDIS_CPU_FRESH_US = 6;
const REDIS_CPU_REPLAY_US = 3;

/** results/redis-cpu.json of the same run, if it measured one. */
function readRedisCpu(root: string): RedisCpuResults | undefined {
  const file = join(root, 'apps/bench/results/redis-cpu.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RedisCpuResults) : undefined;
}

/** results/lambda.json, if the Lambda section ran. */
function readLambda(root: string): LambdaResults | undefined {
  const file = join(root, 'apps/bench/results/lambda.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LambdaResults) : undefined;
}

/** results/cost.json, if the cost tool ran. */
function readCost(root: string): CostResults | undefined {
  const file = join(root, 'apps/bench/results/cost.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as CostResults) : undefined;
}

/** idem within this many times the hand-written floor (app + database CPU) on the SQL stores. */
const SQL_FLOOR_RATIO = 1.25;

/** The issue's targets the cost tool measures: SQL stores near the floor, replays that write nothing, single flight. */
function costVerdicts(cost: CostResults | undefined): Verdict[] {
  const out: Verdict[] = [];
  if (!cost) return out;
  for (const row of cost.rows.filter((r) => r.store === 'postgres' || r.store === 'mysql')) {
    for (const kind of ['first', 'replay'] as const) {
      const c = row[kind];
      out.push({
        target: `SQL store within ${SQL_FLOOR_RATIO} × the hand-written floor (app + database CPU)`,
        where: `${row.server}, ${kind === 'first' ? 'first request' : 'replay'}`,
        figure: `${fixed(c.ratio)} × (${fixed(c.idem.totalUs, 0)} vs ${fixed(c.floor.totalUs, 0)} µs)`,
        met: c.ratio <= SQL_FLOOR_RATIO,
      });
    }
  }
  for (const proof of cost.writeProofs) {
    // Table-level counters (PostgreSQL) and the pool's own sessions' handler
    // counters (MariaDB) count only this store's writes; server-wide ones
    // (WAL, redo log) include other clients and are shown, not judged.
    const own = Object.entries(proof.replayDeltas).filter(
      ([name]) => name.startsWith('n_tup') || name.endsWith('(pool sessions)'),
    );
    out.push({
      target: 'a replay writes nothing',
      where: `${proof.store}, ${int(proof.replays)} replays`,
      figure: own.map(([name, delta]) => `${name} ${int(delta)}`).join(', '),
      met: own.length > 0 && own.every(([, delta]) => delta === 0),
    });
  }
  for (const storm of cost.storms.filter((s) => s.singleFlight)) {
    out.push({
      target: 'single flight: waiting duplicates in one process make no store call',
      where: `${storm.store} (${storm.via}), ${storm.requests} duplicates`,
      figure: `${fixed(storm.callsPerDuplicate.total, 2)} calls per duplicate, ${storm.executions} execution`,
      met: storm.callsPerDuplicate.total === 0 && storm.executions === 1,
    });
  }
  return out;
}

function redisCpuVerdicts(redisCpu: RedisCpuResults | undefined): Verdict[] {
  const out: Verdict[] = [];
  for (const row of redisCpu?.rows.filter((r) => r.library === 'idem') ?? []) {
    out.push(
      {
        target: `Redis CPU ≤ ${REDIS_CPU_FRESH_US} µs per fresh request (claim + completion)`,
        where: row.via,
        figure: `${fixed(row.freshUs)} µs (${row.freshCommands})`,
        met: row.freshUs <= REDIS_CPU_FRESH_US,
      },
      {
        target: `Redis CPU ≤ ${REDIS_CPU_REPLAY_US} µs per replay`,
        where: row.via,
        figure: `${fixed(row.replayUs)} µs (${row.replayCommands})`,
        met: row.replayUs <= REDIS_CPU_REPLAY_US,
      },
    );
  }
  return out;
}

function redisCpuSection(redisCpu: RedisCpuResults | undefined): string {
  if (!redisCpu) return 'Not measured in this run.';
  return [
    `Redis ${redisCpu.redisVersion}, private to the measurement; ${redisCpu.windows} windows of ${int(redisCpu.requests)} requests, ${redisCpu.concurrency} at once; medians. "Per core" is how many such requests one Redis core could serve doing nothing else (network I/O not counted).`,
    '',
    table(
      [
        'library',
        'driven through',
        'µs per fresh request',
        'µs per replay',
        'fresh requests/s per Redis core',
        'replays/s per Redis core',
        'commands per fresh request (µs per call)',
        'per replay',
      ],
      redisCpu.rows.map((r) => [
        r.library === 'idem' ? '**idem**' : r.library,
        r.via,
        r.library === 'idem' ? `**${fixed(r.freshUs)}**` : fixed(r.freshUs),
        r.library === 'idem' ? `**${fixed(r.replayUs)}**` : fixed(r.replayUs),
        int(1e6 / r.freshUs),
        int(1e6 / r.replayUs),
        r.freshCommands,
        r.replayCommands,
      ]),
      'llrrrrll',
    ),
  ].join('\n');
}

function verdicts(
  results: Results,
  redisCpu?: RedisCpuResults,
  cost?: CostResults,
  lambda?: LambdaResults,
): Verdict[] {
  const out: Verdict[] = [];
  const confidence = results.settings.confidence ?? CONFIDENCE;
  for (const framework of FRAMEWORKS) {
    const where = `${FRAMEWORK_LABEL[framework].split(' (')[0]}, memory`;
    const fresh = rowOf(results, { framework, store: 'memory' }, 'idem', 'fresh');
    const replay = rowOf(results, { framework, store: 'memory' }, 'idem', 'replay');
    if (fresh) {
      out.push({
        target: 'memory store, fresh keys ≥ 0.85 × bare',
        where,
        figure: bareRatioFigure(fresh, confidence),
        met: fresh.ratio >= 0.85,
      });
    }
    if (replay) {
      out.push({
        target: 'memory store, replays ≥ 0.95 × bare',
        where,
        figure: bareRatioFigure(replay, confidence),
        met: replay.ratio >= 0.95,
      });
    }
  }
  for (const store of ['redis', 'postgres', 'dynamodb'] as const) {
    for (const framework of FRAMEWORKS) {
      const where = `${FRAMEWORK_LABEL[framework].split(' (')[0]}, ${STORE_LABEL[store]}`;
      for (const [phase, expected] of [
        ['fresh', 2],
        ['replay', 1],
      ] as const) {
        const row = rowOf(results, { framework, store }, 'idem', phase);
        if (!row) continue;
        // A replay makes at most one: the replay phase sends every request
        // for one completed key, and concurrent ones in a process share a
        // claim (single flight), so fewer than one per request reach the store.
        const atMost = phase === 'replay';
        out.push({
          target: `network store: ${atMost ? 'at most ' : ''}${expected} round trip${expected > 1 ? 's' : ''} ${phase === 'fresh' ? 'for a first request' : 'for a replay'}`,
          where,
          figure: `${fixed(row.storeCallsPerRequest, 3)}${opsText(row) ? ` (${opsText(row)})` : ''}`,
          met: atMost
            ? row.storeCallsPerRequest <= expected + 0.005
            : Math.abs(row.storeCallsPerRequest - expected) < 0.005,
        });
      }
    }
  }
  // Judged on intervals over the passes (src/compare.ts): a verdict the noise could flip is a tie.
  for (const c of peerComparisons(results)) {
    out.push({
      target: `ahead of ${LIBRARY_LABEL[c.peer]} (${c.phase === 'fresh' ? 'fresh keys' : 'replays'})`,
      where: `${FRAMEWORK_LABEL[c.framework].split(' (')[0]}, ${STORE_LABEL[c.store]}`,
      figure: peerFigure(c),
      met: c.comparison.standing === 'ahead',
      standing: c.comparison.standing,
    });
  }
  out.push(...redisCpuVerdicts(redisCpu));
  out.push(...costVerdicts(cost));
  out.push(...lambdaVerdicts(lambda));
  for (const { unit, result } of results.storms.filter(
    (s) => s.unit.library === 'idem' && !s.variant,
  )) {
    out.push({
      target: 'exactly once in the retry storm',
      where: `${FRAMEWORK_LABEL[unit.framework].split(' (')[0]}, ${STORE_LABEL[unit.store]}`,
      figure: `${result.executions} executions for ${result.keys} keys`,
      met: result.exactlyOnce,
    });
  }
  return out;
}

/** A peer comparison's figures: both measures' estimates, intervals and standings, and the raw figures. */
function peerFigure(c: PeerCase): string {
  const { rps, cpu } = c.comparison;
  const cpuText = cpu
    ? `CPU ${intervalText(cpu)} ${cpu.standing} (${int(c.ours.cpuMicrosPerRequest)} vs ${int(c.theirs.cpuMicrosPerRequest)} µs/req)`
    : 'CPU per pass not recorded';
  return `req/s ${intervalText(rps)} ${rps.standing} (${int(c.ours.rps)} vs ${int(c.theirs.rps)}); ${cpuText}`;
}

/** Every peer comparison, whatever its verdict: where, both measures with their intervals, the verdict. */
function peerTable(results: Results): string {
  const cases = peerComparisons(results);
  if (cases.length === 0) return '';
  const confidence = results.settings.confidence ?? CONFIDENCE;
  const passes = Math.max(...cases.map((c) => c.comparison.rps.n));
  const noCpu = cases.some((c) => !c.comparison.cpu);
  const standing = (s: Standing) => (s === 'tie' ? 'tie' : `**${s}**`);
  const lines = cases.map((c) => {
    const { rps, cpu } = c.comparison;
    return [
      `${FRAMEWORK_LABEL[c.framework].split(' (')[0]}, ${STORE_LABEL[c.store]}`,
      LIBRARY_LABEL[c.peer],
      c.phase === 'fresh' ? 'fresh keys' : 'replays',
      `${intervalText(rps)} ${rps.standing}`,
      `${int(c.ours.rps)} vs ${int(c.theirs.rps)}`,
      cpu ? `${intervalText(cpu)} ${cpu.standing}` : '—',
      `${int(c.ours.cpuMicrosPerRequest)} vs ${int(c.theirs.cpuMicrosPerRequest)}`,
      standing(c.comparison.standing),
    ];
  });
  return [
    `idem against each peer on the same framework, store and phase, pass by pass over ${passes} passes: the geometric mean of the per-pass ratios and its ${Math.round(confidence * 100)} % confidence interval (Student's t on the log ratios); above 1 favours idem on both measures. A measure is **ahead** when the interval's low end is above 1, **behind** when its high end is below 1, a tie otherwise; the verdict is ahead when ahead on one measure and not behind on the other, behind when behind on one and not ahead on the other, a tie otherwise.${noCpu ? ' **This results.json has no per-pass server CPU (a run from before it was recorded): these verdicts judge req/s alone.**' : ''}`,
    '',
    table(
      [
        'where',
        'peer',
        'requests',
        'req/s idem / peer',
        'req/s (medians)',
        'CPU µs/req peer / idem',
        'CPU µs/req',
        'verdict',
      ],
      lines,
      'lllrrrrl',
    ),
  ].join('\n');
}

function targetsSection(
  results: Results,
  redisCpu?: RedisCpuResults,
  cost?: CostResults,
  lambda?: LambdaResults,
): string {
  const all = verdicts(results, redisCpu, cost, lambda);
  const groups = new Map<string, Verdict[]>();
  for (const v of all) {
    const key = v.standing ? AHEAD_OF_PEERS : v.target;
    groups.set(key, [...(groups.get(key) ?? []), v]);
  }
  const summary = [...groups].map(([target, vs]) => {
    const met = vs.filter((v) => v.met).length;
    if (target === AHEAD_OF_PEERS) {
      const behind = vs.filter((v) => v.standing === 'behind').length;
      const tie = vs.filter((v) => v.standing === 'tie').length;
      return [
        target,
        `${met} of ${vs.length} ahead (tie ${tie}, behind ${behind})`,
        met === vs.length ? '**met**' : behind > 0 ? '**missed**' : '**not shown** (ties only)',
      ];
    }
    return [target, `${met} of ${vs.length}`, met === vs.length ? '**met**' : '**missed**'];
  });
  const misses = all.filter((v) => !v.met && !v.standing).map((v) => [v.target, v.where, v.figure]);
  const peers = peerTable(results);
  return [
    table(['target', 'cases met', 'verdict'], summary),
    '',
    misses.length > 0
      ? `Every miss of the other targets, with its figures (the reasons follow under [Analysis](#analysis)):\n\n${table(['target', 'where', 'measured'], misses)}`
      : 'Every other target is met in this run.',
    ...(peers ? ['', '### Against each peer', '', peers] : []),
  ].join('\n');
}

function fingerprintSection(results: Results): string {
  return table(
    [
      'JSON body',
      'bytes',
      '`fingerprintRequest` ops/s',
      '`JSON.stringify(JSON.parse)` + SHA-256 ops/s',
      'ratio',
    ],
    results.fingerprint.map((f) => [
      f.label,
      int(f.bytes),
      int(f.fingerprintOpsPerSec),
      int(f.baselineOpsPerSec),
      `${fixed(f.ratio)} ×`,
    ]),
    'lrrrr',
  );
}

function memorySection(results: Results): string {
  const m = results.memory;
  if (!m) return 'Not measured in this run.';
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  return table(
    ['measure', 'value'],
    [
      [
        'completed records held',
        `${int(m.records)} (\`memoryStore({ maxRecords: ${int(m.maxRecords).replace(/,/g, '_')} })\`)`,
      ],
      [
        'bytes per record (heap + external, after GC)',
        `**${int(m.bytesPerRecord)}** (heap ${int(m.heapBytesPerRecord)}, external ${int(m.externalBytesPerRecord)})`,
      ],
      [
        'peak RSS of the process',
        `**${mib(m.peakRssBytes)}** (${mib(m.baselineRssBytes)} before the first record)`,
      ],
      [
        'time to claim and complete them all',
        `${fixed(m.fillSeconds, 1)} s${m.fillGcSeconds === undefined ? '' : ` (${fixed(m.fillGcSeconds, 1)} s of it in GC)`}`,
      ],
      ...(m.freshAllocatedBytes === undefined || m.replayAllocatedBytes === undefined
        ? []
        : [
            [
              'heap allocated per fresh key (claim + complete) / per replay',
              `${int(m.freshAllocatedBytes)} / ${int(m.replayAllocatedBytes)} bytes, garbage included`,
            ],
          ]),
    ],
  );
}

/** The method's word on the replay cache rows, when the run has them. */
function cacheNote(results: Results): string {
  if (!results.libraries.includes('idem-cache')) return '';
  return `
- **idem, replay cache on**: the same, plus \`cache: replayCache()\` (the default limits;
  docs/SEMANTICS.md, Replay cache), on the network stores only: a replay of a
  record the process already holds makes no store call. Its rows stand beside
  idem's; the targets above judge idem as the READMEs show it, and the cache rows
  are not counted as a peer.`;
}

/**
 * Refuses a results.json this renderer cannot judge, with what is missing,
 * rather than a TypeError halfway through. Results from before per-pass CPU
 * and pass numbers were recorded are fine: their peer verdicts use req/s alone.
 */
export function assertRenderable(results: Results): void {
  const problems: string[] = [];
  if (results.version !== 1) problems.push(`version ${String(results.version)}, not 1`);
  if (!Array.isArray(results.rows) || !Array.isArray(results.bare))
    problems.push('no rows or bare');
  else {
    for (const row of results.rows) {
      if (!Array.isArray(row.passRps) || !Array.isArray(row.passRatios)) {
        problems.push(
          `${unitId(row.unit)} ${row.phase} has no per-pass figures (passRps, passRatios)`,
        );
        break;
      }
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `Cannot render this results.json: ${problems.join('; ')}. Rerun the bench (npx -y pnpm@10 bench) to produce one.`,
    );
  }
}

export function renderMarkdown(results: Results, root: string): string {
  assertRenderable(results);
  const s = results.settings;
  const m = results.machine;
  const v = versions(root);
  const analysisPath = join(root, 'apps/bench/ANALYSIS.md');
  const redisCpu = results.settings.quick ? undefined : readRedisCpu(root);
  const cost = results.settings.quick ? undefined : readCost(root);
  const lambda = results.settings.quick ? undefined : readLambda(root);
  const analysis = existsSync(analysisPath)
    ? readFileSync(analysisPath, 'utf8')
        .replace(/^# .*\n+/, '')
        .trim()
    : '(no apps/bench/ANALYSIS.md)';
  const peerList = (Object.keys(LIBRARY_PACKAGES) as (keyof typeof LIBRARY_PACKAGES)[])
    .filter((lib) => results.libraries.includes(lib))
    .map(
      (lib) =>
        `- ${LIBRARY_LABEL[lib]}: ${LIBRARY_PACKAGES[lib].map((p) => `\`${p}@${v[p] ?? '?'}\``).join(', ')}`,
    );
  const failures =
    results.failures.length > 0
      ? `\n**Failures in this run:**\n\n${results.failures.map((f) => `- ${f.unit}: ${f.error.split('\n')[0]}`).join('\n')}\n`
      : '';
  const skipped =
    results.skippedStores.length > 0
      ? `\n**Stores skipped (server unreachable):** ${results.skippedStores.join(', ')}\n`
      : '';
  return `# Benchmarks

What idem costs on every request, against the bare frameworks and the
libraries a user would pick instead, measured side by side in one run on one
machine, and whether each one runs a handler exactly once when a retry storm
hits. Every figure below comes from \`apps/bench/results/results.json\`; this
file and the chart are generated from it by \`pnpm bench\` (do not edit them by
hand; the prose of the [Analysis](#analysis) section lives in
\`apps/bench/ANALYSIS.md\`).

Run ${results.runId} on ${results.date.slice(0, 10)}, commit \`${results.commit}\`, ${Math.floor(results.durationSeconds / 60)} min ${results.durationSeconds % 60} s.
${failures}${skipped}
![Throughput as a share of the bare framework](${CHART})

## Targets

${targetsSection(results, redisCpu, cost, lambda)}

## Machine and method

${table(
  ['', ''],
  [
    ['CPU', `${m.cpu}, ${m.cores} cores (\`/proc/cpuinfo\`), ${m.memoryGiB} GiB`],
    ['Node', `${m.node} on ${m.os}`],
    ...(m.bun ? [['Bun', `${m.bun} (the \`bun\` package from npm), for the Bun.serve rows`]] : []),
    ['load generator', m.generator],
    [
      'pinning',
      m.taskset
        ? 'server on CPU 0, load generator on CPU 1 (`taskset`); Redis, PostgreSQL and dynalite float'
        : 'none',
    ],
    ['Redis', `${m.redis ?? '—'} on 127.0.0.1`],
    ['PostgreSQL', `${m.postgres ?? '—'} on 127.0.0.1`],
    [
      'DynamoDB',
      `dynalite ${v.dynalite ?? ''} (an implementation of the DynamoDB API in Node, in memory), in the bench's own process, not pinned`,
    ],
  ],
)}

- **Handler**: the same everywhere: \`POST /payments\` with a ${Buffer.byteLength(PAYMENT_BODY)}-byte JSON body, parsed by the framework; a counter
  increment; \`201\` with a small JSON receipt. Every configuration sends
  \`Idempotency-Key\`; the bare framework ignores it.
- **Servers** run the built packages (\`dist\`), bundled without esbuild's
  \`keepNames\`, each configuration in a child process of its own, started once
  and kept for the whole run (its JIT stays its own).
- **Passes**: ${s.warmupSeconds} s of fresh-key warmup and a short replay warmup per configuration, then
  ${s.passes} passes of ${s.seconds} s per phase. In each pass, per framework: the bare framework,
  every configuration (fresh keys, then replays), and the bare framework again. ${
    s.orderSeed === undefined
      ? 'The order of the configurations was reversed every other pass.'
      : `The configurations run in an order shuffled anew for every pass and framework
  (the stores in random order, each store's configurations together, shuffled among
  themselves; seed ${s.orderSeed}, \`--seed\` repeats it): idem and the peers it is compared
  with run close in time, and no library always runs first.`
  } **× bare** is the configuration's req/s over the mean of
  the two bare runs of the same pass; tables give the median over passes (req/s, p50, p99, × bare).
- **Against a peer**: idem and the peer on the same framework, store and phase, pass
  by pass, on two measures: req/s (idem's over the peer's) and server CPU µs per
  request (the peer's over idem's), so above 1 favours idem on both. Each measure's
  figure is the geometric mean of its per-pass ratios, with a ${Math.round((s.confidence ?? CONFIDENCE) * 100)} % confidence
  interval: Student's t on the mean of the log ratios (ratios are multiplicative, and t
  widens honestly for a few passes where a bootstrap would not). A measure is ahead when
  its interval lies above 1, behind when below, a tie when it straddles 1; idem is
  ahead of the peer when ahead on one measure and not behind on the other, behind when
  behind on one and not ahead on the other, tied otherwise. CPU per request is the
  steadier measure on a shared machine: a pass that loses the core to another process
  serves fewer requests, each at about the same cost.
- **Fresh keys**: every request a new key (a first request). **Replays**: every request
  repeats one completed key.
- **Store round trips** are counted, not assumed: the server process wraps the
  \`write\` of every socket to Redis or PostgreSQL and parses what the client
  sends (a Redis command is one RESP array, whatever the client library; a
  PostgreSQL round trip is one Sync or simple Query); DynamoDB requests are counted
  where dynalite receives them, by \`X-Amz-Target\`. Divided by the POSTs the HTTP
  server received in the same windows.
- **Retry storm**: ${s.storm.keys} keys, each sent ${s.storm.sendsPerKey} times at once, over ${s.storm.connections} keep-alive connections
  (a Node client); the handler takes ${s.storm.delayMs} ms in the storm (a payment provider call) and counts its
  executions per key, which the server reports at the end.
- **idem's configuration**: the adapters as their READMEs show them, with
  \`scope: () => 'bench'\` (an app's principal) and every other option at its
  default; \`memoryStore({ maxRecords: ${int(s.memoryMaxRecords).replace(/,/g, '_')} })\` so fresh keys never evict during the run;
  \`redisStore\` on ioredis with the README's client options; \`postgresStore\` on a
  \`pg.Pool\` of 10; \`dynamoDbStore\` on the AWS SDK v3 client.${cacheNote(results)}

### Peers

Installed from npm as exact devDependencies of \`@idem/bench\`:

${peerList.join('\n')}

How each is wired (\`apps/bench/src/server/\`):

- **express-idempotency** on Express only (it is Express middleware), with its
  in-memory default and its Redis adapter. As its README requires, the route
  checks \`isHit(req)\` and returns early on a replay.
- **@node-idempotency/core** has no Express, Fastify or Hono package on the
  registry; it is wired to each as its README describes for any framework:
  \`onRequest\` before the handler (replaying what it returns, 409 on its
  in-progress error), the response captured once (\`res.json\` on Express, an
  \`onSend\` hook on Fastify, the body read once on Hono) and \`onResponse\`
  awaited before the response goes out. Memory and Redis adapters.
- **@aws-lambda-powertools/idempotency**: \`makeIdempotent\` around the charge
  function, \`eventKeyJmesPath: 'key'\`, on its Redis (\`@redis/client\`) and
  DynamoDB persistence layers, on all three frameworks. Outside Lambda it has no
  context: in-progress records then never expire (a concurrent duplicate takes
  them for orphans and runs again) and every call logs a warning, so the bench
  registers a stand-in context with 30 s remaining, like idem's lease (on
  Redis the storm also runs once without it, as a server would run it). No
  \`payloadValidationJmesPath\`: with it, every replay on its Redis layer fails
  with \`IdempotencyValidationError\`, because completion rewrites the record
  without the payload hash (seen while wiring it).

Not measured, because they do not install here:

${results.unavailable.map((u) => `- \`${u.name}\`: ${u.reason}`).join('\n')}

## Throughput and latency

Medians of ${s.passes} passes; × bare is the median of per-pass ratios.
**Server CPU µs/req** is the CPU time the server process used in the
measurement windows over the requests it received: what one request costs,
whatever the latency (on this machine, a slower server also pays more for
waking the load generator on the other core), and the cost a middleware adds
over the bare framework, in microseconds.

${throughputTables(results)}
## The Fetch handler adapter (@idem/web)

The same payments handler as a plain Fetch handler (\`(Request) => Response\`,
no framework), bare and wrapped by \`@idem/web\`, on Node's HTTP server
through \`@hono/node-server\` (the server under the Hono rows) and on
\`Bun.serve\` (Bun ${results.machine.bun ?? '—'}, pinned like Node). **× bare handler** compares each
with the bare handler on its own server; **× @idem/hono** is the median per
pass of its req/s over \`@idem/hono\`'s on the same store and phase. What the
adapter costs is the server CPU it adds over its bare handler, beside what
\`@idem/hono\` adds over bare Hono.

${webSection(results)}

## Retry storm: exactly once?

${stormTable(results)}

## Redis CPU per request

What Redis itself spends per request, from its own accounting (\`INFO
commandstats\`, reset before each window; commands that scripts run inside
Redis are counted once, in their script), idem through its engine on each
client library and, like every peer, through a server of this benchmark over
HTTP (\`src/redis-cpu.ts\`). On a busy Redis this is what caps throughput.

${redisCpuSection(redisCpu)}

## Cost per request against the hand-written floor

What the same job costs written by hand against the same database, next to
idem's engine on that store: CPU of the process plus the database's, per
request; what replays write; and a duplicate storm in one process with core's
single flight off and on (\`src/cost/main.ts\`, results/cost.json).

${cost ? alignTables(costSection(cost)).trimEnd() : 'Not measured in this run.'}

## AWS Lambda: @idem/lambda beside Powertools

Each library's wrapped handler invoked in one process with real event shapes,
on the same DynamoDB (dynalite) and Redis: invocations per second and store
requests per invocation, first call and replay, and the retry storm
(\`src/lambda/main.ts\`, results/lambda.json).

${lambda ? alignTables(lambdaSection(lambda)).trimEnd() : 'Not measured in this run.'}

## Fingerprint micro-benchmark

\`fingerprintRequest\` from \`@idem/core\` (canonical JSON, so key order,
whitespace and escapes do not matter, then SHA-256 over method, path, query
and body) against \`JSON.stringify(JSON.parse(body))\` + SHA-256, on order-like
JSON documents (nested objects, arrays, numbers, escapes, non-ASCII); median
ops/s of ${results.settings.quick ? 1 : 5} alternating rounds, in its own process.

${fingerprintSection(results)}

## Memory store footprint

Records claimed and completed through the store API (a hashed store key, a
SHA-256 fingerprint, a UUID token, a 201 with one header and a
${results.memory ? int(results.memory.bodyBytes) : '~65'}-byte body), measured after \`global.gc()\` (\`--expose-gc\`) in a process of its own.

${memorySection(results)}

## Analysis

${analysis}

## How to rerun

Needs Redis and PostgreSQL (\`REDIS_URL\`, default \`redis://127.0.0.1:6379\`;
\`DATABASE_URL\`, default \`postgres://postgres@127.0.0.1:5432/test\`), and wrk for
steady figures (\`apt-get install wrk\`; without it the bench uses autocannon and
says so). dynalite starts by itself.

\`\`\`sh
npx -y pnpm@10 install
npx -y pnpm@10 bench          # builds, measures (~${Math.max(1, Math.round(results.durationSeconds / 60))} min here), rewrites results.json, this file and the chart
npx -y pnpm@10 bench:quick    # the CI smoke: every configuration runs, the storm check works; no speed asserted
npx -y pnpm@10 --filter @idem/bench bench -- --passes 12   # longer, narrower intervals
npx -y pnpm@10 --filter @idem/bench report   # re-render this file from results.json
\`\`\`

Run it on a quiet machine: on 2 cores a second busy process moves every
figure; ratios within one pass (against the bare framework, idem against a
peer) and server CPU per request move least, and the intervals say how much
they still moved. Per-pass figures are in \`results.json\`; \`--seed\` with the
seed above repeats the order of the passes.
`;
}

export async function renderReport(results: Results, root: string): Promise<string[]> {
  assertRenderable(results);
  const chart = join(root, CHART);
  await mkdir(join(chart, '..'), { recursive: true });
  await writeFile(chart, throughputSvg(results));
  const markdown = join(root, 'BENCHMARKS.md');
  await writeFile(markdown, renderMarkdown(results, root));
  return [markdown, chart];
}

export type { StoreKind };
export { unitId };
