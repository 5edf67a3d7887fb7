/**
 * The cost tool's results as markdown: what the tool prints, and the section
 * BENCHMARKS.md shows (report.ts calls {@link costSection}).
 */
import type { CostComparison, CostFigures, CostResults, CostRow } from './types.ts';

const fmt = (n: number | undefined, digits = 1): string =>
  n === undefined || !Number.isFinite(n)
    ? '–'
    : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** `app + db = total` of one way, µs. */
const cpu = (f: CostFigures, withDb: boolean) =>
  withDb ? `${fmt(f.appUs)} + ${fmt(f.dbUs)} = ${fmt(f.totalUs)}` : fmt(f.appUs);

/** Request units and round trips of one way, where counted. */
const calls = (f: CostFigures) =>
  f.units === undefined && f.roundTrips === undefined
    ? ''
    : `${fmt(f.units, 2)} RU, ${fmt(f.roundTrips, 2)} trips`;

function line(row: CostRow, kind: 'first' | 'replay', c: CostComparison): string {
  const withDb = row.dbCpu !== '';
  const counted = c.floor.units !== undefined;
  return `| ${row.store} | ${row.via} | ${kind === 'first' ? 'first request' : 'replay'} | ${cpu(c.floor, withDb)} | ${cpu(c.idem, withDb)} | **${fmt(c.ratio, 2)}×** | ${counted ? `${calls(c.floor)} → ${calls(c.idem)} (${fmt(c.unitsRatio, 2)}×)` : ''} |`;
}

/** What one idempotent request costs against the floor, per store; the write proofs; the storms. */
export function costSection(results: CostResults): string {
  const out: string[] = [];
  out.push('### What one idempotent request costs, against the hand-written floor\n');
  out.push(
    `Engine only (no HTTP): idem's \`begin\` + \`complete\` for a first request, \`begin\` on a completed key for a replay, against the same job written by hand on the same database (the floor). ${results.keys.toLocaleString('en-US')} keys per pass, ${results.concurrency} at a time, pools of ${results.poolSize} connections, ${results.passes} interleaved passes, medians; ${results.host}. CPU in µs per request: this process + the database = total; the ratio is idem / floor of the totals.\n`,
  );
  if (results.rows.length > 0) {
    out.push(
      '| store | via | request | floor: app + db = total (µs) | idem: app + db = total (µs) | idem / floor | request units, round trips (floor → idem) |',
    );
    out.push('|---|---|---|---:|---:|---:|---|');
    for (const row of results.rows) {
      out.push(line(row, 'first', row.first));
      out.push(line(row, 'replay', row.replay));
    }
    out.push('');
    for (const row of results.rows) {
      out.push(
        `- **${row.store}** (${row.via}, ${row.server}): floor = ${row.floor}; database CPU: ${row.dbCpu || 'not measured (app CPU only)'}.`,
      );
    }
    for (const row of results.rows) {
      const c = row.commands;
      if (!c) continue;
      out.push(
        `- **${row.store} commands** (${row.via}; ${row.store === 'dynamodb' ? 'units per request' : 'µs per call'}): first request: floor ${c.first.floor}, idem ${c.first.idem}; replay: floor ${c.replay.floor}, idem ${c.replay.idem}.`,
      );
    }
    for (const row of results.rows) {
      if (!row.target) continue;
      const ok = row.target.measuredUs <= row.target.limitUs;
      out.push(
        `- **target** (${row.store}, ${row.via}): ${row.target.what}: ${fmt(row.target.measuredUs, 2)} µs against ≤ ${fmt(row.target.limitUs, 0)} µs (floor ${fmt(row.first.floor.dbUs, 2)} µs): ${ok ? 'met' : '**not met**'}.`,
      );
    }
    out.push('');
  }
  if (results.writeProofs.length > 0) {
    out.push('#### What replays write\n');
    out.push(
      '| store | counter | over the first requests | over the replays | as long again, idle |',
    );
    out.push('|---|---|---:|---:|---:|');
    for (const p of results.writeProofs) {
      for (const counter of Object.keys(p.replayDeltas)) {
        out.push(
          `| ${p.store} | ${counter} | ${fmt(p.firstDeltas[counter], 0)} (${p.firstRequests.toLocaleString('en-US')} keys) | ${fmt(p.replayDeltas[counter], 0)} (${p.replays.toLocaleString('en-US')} replays) | ${fmt(p.idleDeltas[counter], 0)} |`,
        );
      }
    }
    out.push('');
    for (const p of results.writeProofs) out.push(`- ${p.store}: ${p.note}`);
    out.push('');
  }
  if (results.storms.length > 0) {
    out.push('#### Duplicate storm in one process\n');
    const s0 = results.storms[0]!;
    out.push(
      `${s0.requests} concurrent \`begin\`s of one key, \`concurrent: 'wait'\`, a handler of ${s0.handlerMs} ms; ${s0.rounds} rounds, medians (maxima over all rounds).\n`,
    );
    out.push(
      '| store | via | single flight | handler runs | store calls per duplicate | wait to replay, median / max (ms) | after the completion, median / max (ms) |',
    );
    out.push('|---|---|---|---:|---|---:|---:|');
    for (const s of results.storms) {
      const { total, ...byMethod } = s.callsPerDuplicate;
      const methods = Object.entries(byMethod)
        .filter(([, n]) => n > 0)
        .map(([m, n]) => `${m} ${fmt(n, 2)}`)
        .join(', ');
      out.push(
        `| ${s.store} | ${s.via} | ${s.singleFlight ? 'on' : 'off'} | ${s.executions} | ${fmt(total, 2)}${methods ? ` (${methods})` : ''} | ${fmt(s.waitMedianMs)} / ${fmt(s.waitMaxMs)} | ${fmt(s.lagMedianMs)} / ${fmt(s.lagMaxMs)} |`,
      );
    }
    out.push('');
  }
  for (const s of results.skipped) out.push(`- **${s.store} not measured**: ${s.reason}`);
  return `${out.join('\n').trimEnd()}\n`;
}
