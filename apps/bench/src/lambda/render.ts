/**
 * results/lambda.json as BENCHMARKS.md's Lambda section, its targets, the
 * idem / Powertools verdicts (src/compare.ts's intervals) and what makes a
 * run fail.
 */
import { comparePeer, intervalText, type PeerComparison } from '../compare.ts';
import { CONFIDENCE } from '../stats.ts';
import type { Entry, LambdaStore } from './libraries.ts';
import { lambdaUnitId } from './measure.ts';
import type { LambdaPhase, LambdaResults, LambdaRow, LambdaStormResult } from './types.ts';

const ENTRY_LABEL: Record<Entry, string> = {
  http: 'HTTP API (2.0) handler',
  middy: 'HTTP API (2.0) handler, Middy',
  function: 'payload handler',
};
const STORE_LABEL: Record<LambdaStore | 'none', string> = {
  none: '—',
  dynamodb: 'DynamoDB (dynalite)',
  redis: 'Redis',
};
const LIBRARY_LABEL = { bare: 'bare handler', idem: '@idem/lambda', powertools: 'Powertools' };
const PHASE_LABEL: Record<LambdaPhase, string> = { first: 'first call', replay: 'replay' };

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || !Number.isFinite(n)
    ? '—'
    : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** idem against Powertools on one entry, store and phase. */
export interface LambdaComparison {
  readonly entry: Entry;
  readonly store: LambdaStore;
  readonly phase: LambdaPhase;
  readonly ours: LambdaRow;
  readonly theirs: LambdaRow;
  readonly comparison: PeerComparison;
}

/** Every idem / Powertools pair of rows, paired pass by pass as the HTTP peers are. */
export function lambdaComparisons(
  results: Pick<LambdaResults, 'rows' | 'settings'>,
): LambdaComparison[] {
  const out: LambdaComparison[] = [];
  for (const ours of results.rows.filter((r) => r.unit.library === 'idem')) {
    const theirs = results.rows.find(
      (r) =>
        r.unit.library === 'powertools' &&
        r.unit.entry === ours.unit.entry &&
        r.unit.store === ours.unit.store &&
        r.phase === ours.phase,
    );
    if (!theirs || ours.unit.store === 'none') continue;
    out.push({
      entry: ours.unit.entry,
      store: ours.unit.store,
      phase: ours.phase,
      ours,
      theirs,
      comparison: comparePeer(ours, theirs, results.settings.confidence ?? CONFIDENCE),
    });
  }
  return out;
}

/** A target of the issue, judged on this run (report.ts's targets table). */
export interface LambdaVerdict {
  readonly target: string;
  readonly where: string;
  readonly figure: string;
  readonly met: boolean;
}

const opsText = (ops: Readonly<Record<string, number>>) =>
  Object.entries(ops)
    .filter(([, n]) => n >= 0.005)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => `${Math.abs(n - 1) < 0.005 ? '' : `${fmt(n, 2)} × `}${name}`)
    .join(' + ');

/** DynamoDB: one conditional write per claim and per completion, a replay in one request; exactly once in the storm. */
export function lambdaVerdicts(results: LambdaResults | undefined): LambdaVerdict[] {
  if (!results) return [];
  const out: LambdaVerdict[] = [];
  // Judged as AWS answers a lost claim where counted so (on dynalite alone, a replay needs a second request).
  const counted = results.conflictsWithItemRows ?? results.rows;
  for (const row of counted.filter(
    (r) => r.unit.library === 'idem' && r.unit.store === 'dynamodb',
  )) {
    const expected = row.phase === 'first' ? 2 : 1;
    out.push({
      target:
        row.phase === 'first'
          ? 'Lambda on DynamoDB: one conditional write per claim and one per completion'
          : 'Lambda on DynamoDB: a replay served by one request',
      where: `@idem/lambda, ${ENTRY_LABEL[row.unit.entry]}`,
      figure: `${fmt(row.storeRequestsPerInvocation, 3)} requests per invocation (${opsText(row.storeOpsPerInvocation)})`,
      met: Math.abs(row.storeRequestsPerInvocation - expected) < 0.005,
    });
  }
  for (const storm of results.storms.filter((s) => s.unit.library === 'idem')) {
    out.push({
      target: 'exactly once in the Lambda retry storm',
      where: `${ENTRY_LABEL[storm.unit.entry]}, ${STORE_LABEL[storm.unit.store]}, concurrent: '${storm.concurrent ?? 'reject'}'${storm.spread ? ', spread' : ''}`,
      figure: `${storm.executions} executions for ${storm.keys} keys`,
      met: storm.exactlyOnce,
    });
  }
  return out;
}

/** Why a run fails: its failures, and any of idem's guarantees broken. Nothing about speed. */
export function lambdaProblems(results: LambdaResults): string[] {
  const problems = results.failures.map((f) => `${f.unit}: ${f.error.split('\n')[0]}`);
  const idemRows = results.rows.filter((r) => r.unit.library === 'idem');
  if (idemRows.length === 0 && results.libraries.includes('idem'))
    problems.push('no @idem/lambda row ran');
  for (const r of idemRows) {
    const id = `${lambdaUnitId(r.unit)} ${r.phase}`;
    if (r.invocations === 0) problems.push(`${id}: no invocation completed`);
    if (r.failures > 0) problems.push(`${id}: ${r.failures} failures (${r.firstFailure})`);
    if (r.phase === 'replay' && r.executionsPerInvocation !== 0)
      problems.push(`${id}: the handler ran during replays`);
  }
  for (const s of results.storms.filter((s) => s.unit.library === 'idem' && !s.exactlyOnce)) {
    problems.push(
      `storm ${lambdaUnitId(s.unit)} (${s.concurrent}${s.spread ? ', spread' : ''}): ${s.executions} executions for ${s.keys} keys`,
    );
  }
  return problems;
}

function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  align: string[],
): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const withRatio = (row: LambdaRow | undefined) =>
  row
    ? `${fmt(row.rps)}${row.unit.library === 'bare' ? '' : ` (${fmt(row.ratio, row.ratio < 0.1 ? 3 : 2)} ×)`}`
    : '—';

function throughputTable(results: LambdaResults): string {
  const units = results.rows.filter((r) => r.phase === 'first').map((r) => r.unit);
  const row = (id: string, phase: LambdaPhase) =>
    results.rows.find((r) => lambdaUnitId(r.unit) === id && r.phase === phase);
  return table(
    [
      'handler',
      'store',
      'library',
      'first call: inv/s (× bare)',
      'replay: inv/s (× bare)',
      'CPU µs/inv: first / replay',
      'store requests/inv: first; replay',
    ],
    units.map((u) => {
      const first = row(lambdaUnitId(u), 'first');
      const replay = row(lambdaUnitId(u), 'replay');
      const requests = (r: LambdaRow | undefined) =>
        r
          ? `${fmt(r.storeRequestsPerInvocation, 2)}${opsText(r.storeOpsPerInvocation) ? ` (${opsText(r.storeOpsPerInvocation)})` : ''}`
          : '—';
      return [
        ENTRY_LABEL[u.entry],
        STORE_LABEL[u.store],
        LIBRARY_LABEL[u.library],
        withRatio(first),
        withRatio(replay),
        `${fmt(first?.cpuMicrosPerInvocation)} / ${fmt(replay?.cpuMicrosPerInvocation)}`,
        u.library === 'bare' ? '—' : `${requests(first)}; ${requests(replay)}`,
      ];
    }),
    ['---', '---', '---', '---:', '---:', '---:', '---'],
  );
}

function comparisonTable(results: LambdaResults): string {
  const cases = lambdaComparisons(results);
  if (cases.length === 0) return 'No pair of idem and Powertools rows in this run.';
  return table(
    [
      'handler',
      'store',
      'phase',
      'inv/s idem / Powertools',
      'CPU µs/inv Powertools / idem',
      'verdict',
    ],
    cases.map((c) => {
      const { rps, cpu, standing } = c.comparison;
      return [
        ENTRY_LABEL[c.entry],
        STORE_LABEL[c.store],
        PHASE_LABEL[c.phase],
        `${intervalText(rps)} ${rps.standing}`,
        cpu ? `${intervalText(cpu)} ${cpu.standing}` : '—',
        `**${standing}**`,
      ];
    }),
    ['---', '---', '---', '---', '---', '---'],
  );
}

function asOnAwsTable(results: LambdaResults): string {
  const rows = results.conflictsWithItemRows ?? [];
  if (rows.length === 0) return 'Not counted in this run.';
  const units = rows.filter((r) => r.phase === 'first').map((r) => r.unit);
  const cell = (id: string, phase: LambdaPhase) => {
    const r = rows.find((x) => lambdaUnitId(x.unit) === id && x.phase === phase);
    return r
      ? `${fmt(r.storeRequestsPerInvocation, 2)} (${opsText(r.storeOpsPerInvocation)}; ${fmt(r.unitsPerInvocation, 2)} RU)`
      : '—';
  };
  return table(
    ['handler', 'library', 'first call: requests/inv', 'replay: requests/inv'],
    units.map((u) => [
      ENTRY_LABEL[u.entry],
      LIBRARY_LABEL[u.library],
      cell(lambdaUnitId(u), 'first'),
      cell(lambdaUnitId(u), 'replay'),
    ]),
    ['---', '---', '---:', '---:'],
  );
}

const answersText = (s: LambdaStormResult) =>
  Object.entries(s.answers)
    .sort(([, a], [, b]) => b - a)
    .map(([answer, n]) => `${n} × ${answer}`)
    .join(', ');

function stormTable(results: LambdaResults): string {
  if (results.storms.length === 0) return 'Not run.';
  return table(
    [
      'handler',
      'store',
      'library',
      'duplicates',
      'executions for keys',
      'answers',
      'store requests per invocation; per duplicate',
      'requests by command, per invocation',
    ],
    results.storms.map((s) => [
      ENTRY_LABEL[s.unit.entry],
      `${STORE_LABEL[s.unit.store]}${s.conflictsWithItem ? ', lost claims answered as on AWS' : ''}`,
      `${LIBRARY_LABEL[s.unit.library]}${s.concurrent ? ` (\`concurrent: '${s.concurrent}'\`)` : ''}`,
      s.spread ? `spread over ${s.delayMs} ms` : 'at once',
      `${s.executions} for ${s.keys}${s.exactlyOnce ? '' : ` (**${s.keysMoreThanOnce} keys more than once, ${s.keysNever} never**)`}`,
      answersText(s),
      `${fmt(s.store.requests / s.invocations, 2)}; ${fmt(s.storeRequestsPerDuplicate, 2)}`,
      opsText(
        Object.fromEntries(
          Object.entries(s.store.ops).map(([name, n]) => [name, n / s.invocations]),
        ),
      ),
    ]),
    ['---', '---', '---', '---', '---:', '---', '---:', '---'],
  );
}

/** The section BENCHMARKS.md shows (report.ts aligns its tables). */
export function lambdaSection(results: LambdaResults): string {
  const s = results.settings;
  const v = results.versions;
  const length = s.seconds > 0 ? `${s.seconds} s` : `${s.invocations} invocations`;
  return `Run ${results.run} on ${results.date.slice(0, 10)}, commit \`${results.commit}\`, ${results.durationSeconds} s; Node ${results.machine.node}, Redis ${results.machine.redis ?? '—'}, ${results.machine.dynamodb}; Powertools \`@aws-lambda-powertools/idempotency@${v['@aws-lambda-powertools/idempotency'] ?? '?'}\`.

- **Handlers**: the HTTP handler wrapped by each library's function wrapper, the same handler under Middy (\`@middy/core@${v['@middy/core'] ?? '?'}\`) with each library's middleware, and the payload handler; the bare rows are the same handlers unwrapped (the Middy one under Middy with no middleware).
- **Invocations** run in the bench's process, ${s.concurrency} at a time (a Lambda instance runs one invocation at a time, so inv/s is one over its latency, and store round trips dominate it), each with a fresh event and a context of its own (\`awsRequestId\`, \`getRemainingTimeInMillis()\` counting down from a 30 s timeout): an API Gateway HTTP API (payload 2.0) event for the HTTP handler (\`POST /payments\`, \`Idempotency-Key\` header, a JSON body; answers 201), a plain payment payload (\`paymentId\` is the key) for the payload handler.
- **idem**: \`idempotency({ store, scope })(handler)\`, the same options as \`idempotencyMiddleware\` (\`@idem/lambda/middy\`) under Middy, and \`makeIdempotent(handler, { store, key: '/paymentId' })\` from @idem/lambda, on \`dynamoDbStore\` (its own AWS SDK client) and \`redisStore\` on ioredis. **Powertools**: \`makeIdempotent(handler, { persistenceStore, config })\` and, under Middy, \`makeHandlerIdempotent({ persistenceStore, config })\`, as its docs show, \`eventKeyJmesPath\` the \`Idempotency-Key\` header or \`paymentId\`, on \`DynamoDBPersistenceLayer\` (its own SDK client, table keyed \`id\`) and its Redis layer \`CachePersistenceLayer\` (\`@idem/bench\`'s \`@redis/client@${v['@redis/client'] ?? '?'}\`); every other option at its default, so no payload validation (\`payloadValidationJmesPath\` unset), where idem fingerprints every call's payload (the HTTP method, path and body; the payment payload) and refuses a reused key with another one.
- **Passes**: ${s.warmupSeconds} s of warmup per configuration, then ${s.passes} passes of ${length} per phase; per pass and handler, the bare handler, every configuration in a shuffled order (seed ${s.orderSeed}; each store's libraries together), the bare handler again. **× bare** is the median per pass of inv/s over the bare handler's. **CPU µs/inv** is the bench process's CPU (\`process.cpuUsage()\`) per invocation: the library, its client and the handler; dynalite runs in a child process and Redis in its own.
- **Store requests** are counted on each library's own client: a middleware on its DynamoDBClient (by action), and the Redis commands its sockets carry (\`src/wire.ts\`).
- **idem against Powertools** pairs the two pass by pass on the same handler, store and phase, as the HTTP peers are paired: inv/s (idem / Powertools) and CPU per invocation (Powertools / idem), each the geometric mean of the per-pass ratios with a ${Math.round((s.confidence ?? CONFIDENCE) * 100)} % interval (Student's t on the log ratios); ahead or behind only when the interval clears 1.

### Invocations per second and store requests

${throughputTable(results)}

### DynamoDB requests as AWS answers a lost claim

dynalite ignores \`ReturnValuesOnConditionCheckFailure: 'ALL_OLD'\`, which both libraries send with their conditional \`PutItem\`, so on it a replay (and a duplicate) costs both a second request, a \`GetItem\`. AWS sends the item back with the failed condition. Counted again with that answer given (a middleware on each library's client reads the item on a client of its own and attaches it to the error), over ${s.invocations} invocations of each phase; request units as dynalite reports them.

${asOnAwsTable(results)}

### idem against Powertools

${comparisonTable(results)}

### Retry storm

${s.storm.keys} keys, each invoked ${s.storm.duplicates} times, all at once or spread over the handler's run (duplicate d starts d × ${s.storm.delayMs} / ${s.storm.duplicates} ms after the first: retries that meet the first in flight, the last ones near its end), every duplicate on an instance of its own (its own engine or persistence layer: nothing shared in memory, as between Lambda instances); the handler takes ${s.storm.delayMs} ms. The last column is every request the library sent, by command, deletes included. Store requests per duplicate are those beyond what the keys' first calls take (the first-call row's figure); on DynamoDB, counted as AWS answers a lost claim (above) where marked. A handler that throws fails the invocation: API Gateway answers a 500, an asynchronous invoke retries it. Powertools answers a duplicate in flight with \`IdempotencyAlreadyInProgressError\`; idem answers 409 with \`Retry-After\` (\`concurrent: 'reject'\`, its default) or waits for the first invocation's result (\`'wait'\`, polling the store until it is there: more requests per duplicate, no error to retry).

${stormTable(results)}
${results.failures.length > 0 ? `\n**Failures in this run:**\n\n${results.failures.map((f) => `- ${f.unit}: ${f.error.split('\n')[0]}`).join('\n')}\n` : ''}${results.skipped.length > 0 ? `\n**Skipped:** ${results.skipped.map((k) => `${k.what} (${k.reason})`).join('; ')}\n` : ''}`;
}
