import type { Store } from '@idem/core/store';
import fc from 'fast-check';
import { fcParameters } from '../../fc.js';
import type { Reply } from '../client.js';
import { expectFresh, expectProblem, expectReplay } from '../expect.js';
import { type CheckSpec, check, within } from '../harness.js';
import { captureLog } from '../logger.js';

const JSON_BODY = '{"amount":100}';
const json = { body: JSON_BODY, contentType: 'application/json' } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the errors of {@link brokenStore} say, so a check can find them in a log. */
const BROKEN = 'conformance: broken store';

/** A store whose every operation fails, as an unreachable backend does. */
export function brokenStore(): Store {
  const down = () => Promise.reject(new Error(`connect ECONNREFUSED (${BROKEN})`));
  return { claim: down, complete: down, release: down, renew: down, read: down };
}

/** Duplicates in flight, and the `concurrent` policies. */
export const concurrencyChecks: readonly CheckSpec[] = [
  {
    group: 'concurrency',
    name: 'a duplicate of a request still running gets 409 request-in-flight with Retry-After',
    async body(h) {
      for (const [options, retryAfter] of [
        [{}, '1'],
        [{ retryAfterSeconds: 7 }, '7'],
      ] as const) {
        const t = await h.start(options);
        const key = h.key();
        const gate = t.hold('echo');
        const first = t.send('/echo', { key, ...json });
        await within(gate.entered, 5_000, 'the first request never reached the handler');
        const duplicate = await t.send('/echo', { key, ...json });
        expectProblem(duplicate, 'request-in-flight', 409, 'a duplicate in flight');
        check(
          duplicate.header('retry-after') === retryAfter,
          `the 409 must carry Retry-After: ${retryAfter}, got ${JSON.stringify(duplicate.header('retry-after'))}`,
        );
        gate.open();
        const done = await first;
        expectFresh(done, 'the first request');
        expectReplay(
          await t.send('/echo', { key, ...json }),
          done,
          'a retry after the first finished',
        );
        check(t.runs('echo') === 1, `a duplicate must never run, got ${t.runs('echo')} runs`);
      }
    },
  },
  {
    group: 'concurrency',
    name: "concurrent: 'wait' holds a duplicate until the first answers, then replays it",
    async body(h) {
      const t = await h.start({ concurrent: 'wait', waitTimeoutMs: 10_000 });
      const key = h.key();
      const gate = t.hold('echo');
      const first = t.send('/echo', { key, ...json });
      await within(gate.entered, 5_000, 'the first request never reached the handler');
      const duplicate = t.send('/echo', { key, ...json });
      // Let the duplicate reach idem and start waiting; if it is slower, it
      // finds the completed record instead, which must give the same answer.
      await sleep(100);
      gate.open();
      const done = await first;
      expectFresh(done, 'the first request');
      expectReplay(
        await within(duplicate, 10_000, 'the waiting duplicate never answered'),
        done,
        'the waiting duplicate',
      );
      check(t.runs('echo') === 1, `a waiting duplicate must not run, got ${t.runs('echo')} runs`);
    },
  },
  {
    group: 'concurrency',
    name: "concurrent: 'wait' gives up after waitTimeoutMs with 409",
    async body(h) {
      const t = await h.start({ concurrent: 'wait', waitTimeoutMs: 300 });
      const key = h.key();
      const gate = t.hold('echo');
      const first = t.send('/echo', { key, ...json });
      await within(gate.entered, 5_000, 'the first request never reached the handler');
      const duplicate = await within(
        t.send('/echo', { key, ...json }),
        5_000,
        'the duplicate waited past waitTimeoutMs',
      );
      expectProblem(duplicate, 'request-in-flight', 409, 'a duplicate that waited too long');
      gate.open();
      expectFresh(await first, 'the first request');
      check(t.runs('echo') === 1, `a duplicate must never run, got ${t.runs('echo')} runs`);
    },
  },
  {
    group: 'concurrency',
    name: 'parallel duplicates run the handler exactly once',
    async body(h, runs) {
      const t = await h.start();
      let expected = 0;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 2, max: 16 }), async (n) => {
          const key = h.key();
          const replies = await Promise.all(
            Array.from({ length: n }, () => t.send('/echo', { key, ...json })),
          );
          expected++;
          const fresh = replies.filter(
            (r) => r.status === 200 && r.header('idempotent-replayed') === undefined,
          );
          check(
            fresh.length === 1,
            `${n} parallel duplicates: exactly one may run, ${fresh.length} answered fresh`,
          );
          for (const r of replies) {
            if (r === fresh[0]) continue;
            if (r.status === 409)
              expectProblem(r, 'request-in-flight', 409, 'a parallel duplicate');
            else expectReplay(r, fresh[0]!, 'a parallel duplicate');
          }
          check(
            t.runs('echo') === expected,
            `${n} parallel duplicates ran the handler ${t.runs('echo') - expected + 1} times`,
          );
        }),
        fcParameters(Math.min(runs, 20)),
      );
    },
  },
];

/** Same key, different request: the fingerprint. */
export const fingerprintChecks: readonly CheckSpec[] = [
  {
    group: 'fingerprint',
    name: 'a key reused with another body, path, method or query gets 422 and runs nothing',
    async body(h) {
      const t = await h.start();
      const key = h.key();
      const first = await t.send('/echo', { key, ...json });
      expectFresh(first, 'the first request');
      const others: Array<[string, () => Promise<Reply>]> = [
        [
          'another body',
          () => t.send('/echo', { key, body: '{"amount":101}', contentType: 'application/json' }),
        ],
        ['another path', () => t.send('/bytes?size=1', { key, ...json })],
        ['another method', () => t.send('/echo', { method: 'PATCH', key, ...json })],
        ['a query added', () => t.send('/echo?amount=100', { key, ...json })],
      ];
      for (const [what, sendOther] of others) {
        expectProblem(
          await sendOther(),
          'fingerprint-mismatch',
          422,
          `the key reused with ${what}`,
        );
      }
      check(t.runs('echo') === 1 && t.runs('bytes') === 0, 'a mismatched request must not run');
      expectReplay(await t.send('/echo', { key, ...json }), first, 'the original request again');
    },
  },
  {
    group: 'fingerprint',
    name: 'mismatchStatus sets the status of a mismatch',
    async body(h) {
      const t = await h.start({ mismatchStatus: 400 });
      const key = h.key();
      await t.send('/echo', { key, ...json });
      expectProblem(
        await t.send('/echo', { key, body: '{}', contentType: 'application/json' }),
        'fingerprint-mismatch',
        400,
        'with mismatchStatus: 400',
      );
    },
  },
  {
    group: 'fingerprint',
    name: 'a mismatch is reported before the in-flight check',
    async body(h) {
      const t = await h.start();
      const key = h.key();
      const gate = t.hold('echo');
      const first = t.send('/echo', { key, ...json });
      await within(gate.entered, 5_000, 'the first request never reached the handler');
      expectProblem(
        await t.send('/echo', { key, body: '{"amount":5}', contentType: 'application/json' }),
        'fingerprint-mismatch',
        422,
        'another request while the first runs',
      );
      gate.open();
      expectFresh(await first, 'the first request');
    },
  },
  {
    group: 'fingerprint',
    name: 'JSON bodies compare canonically: key order and whitespace are no mismatch, values are',
    async body(h, runs) {
      const t = await h.start();
      await fc.assert(
        fc.asyncProperty(
          fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 8 }),
          async (value) => {
            const key = h.key();
            const reordered = Object.fromEntries(Object.entries(value).reverse());
            const send = (body: string) =>
              t.send('/echo', { key, body, contentType: 'application/json' });
            const first = await send(JSON.stringify(value));
            expectFresh(first, 'the first JSON request');
            expectReplay(
              await send(JSON.stringify(reordered, null, 2)),
              first,
              'the same JSON reordered and indented',
            );
            expectProblem(
              await send(JSON.stringify({ ...value, 'idem-extra': 1 })),
              'fingerprint-mismatch',
              422,
              'the JSON with one more key',
            );
          },
        ),
        fcParameters(runs),
      );
    },
  },
  {
    group: 'fingerprint',
    name: 'query parameter order is no mismatch, their values are',
    async body(h) {
      const t = await h.start();
      const key = h.key();
      const first = await t.send('/echo?a=1&b=2', { key, ...json });
      expectReplay(await t.send('/echo?b=2&a=1', { key, ...json }), first, 'the query reordered');
      expectProblem(
        await t.send('/echo?a=1&b=3', { key, ...json }),
        'fingerprint-mismatch',
        422,
        'another query value',
      );
    },
  },
  {
    group: 'fingerprint',
    name: 'form bodies are compared as raw bytes: the same bytes replay, a reordered form is a mismatch',
    async body(h) {
      const t = await h.start();
      const key = h.key();
      const form = (body: string) =>
        t.send('/echo', { key, body, contentType: 'application/x-www-form-urlencoded' });
      const first = await form('amount=100&note=two+words');
      expectReplay(await form('amount=100&note=two+words'), first, 'the same form bytes');
      expectProblem(
        await form('note=two+words&amount=100'),
        'fingerprint-mismatch',
        422,
        'the form reordered (non-JSON bodies are raw bytes)',
      );
    },
  },
];

/** Store failures, and scopes. */
export const isolationChecks: readonly CheckSpec[] = [
  {
    group: 'store',
    name: 'a failing store gets 503 store-unavailable with Retry-After, and nothing runs',
    async body(h) {
      // What the store failure logs is the next check's business.
      const t = await h.start({ store: brokenStore(), logger: false });
      const r = await t.send('/echo', { key: h.key(), ...json });
      expectProblem(r, 'store-unavailable', 503, 'with the store down');
      check(r.header('retry-after') !== undefined, 'the 503 must carry Retry-After');
      check(
        t.runs('echo') === 0,
        `the handler must not run while the store is down, got ${t.runs('echo')} runs`,
      );
    },
  },
  {
    group: 'store',
    name: "a failing store is reported once to the options' logger, without the key or the scope",
    async body(h) {
      const log = captureLog();
      const t = await h.start({ store: brokenStore(), logger: log.logger });
      const key = h.key();
      // The scope holds the key, so one search finds either in a log line.
      const tenant = `scope-of-${key}`;
      for (let i = 1; i <= 2; i++) {
        expectProblem(
          await t.send('/echo', { key, ...json, headers: { 'x-tenant': tenant } }),
          'store-unavailable',
          503,
          `attempt ${i} with the store down`,
        );
      }
      const reports = log.lines.filter((line) => line.text.includes(BROKEN));
      const seen = log.lines.map((line) => JSON.stringify(line.text)).join(', ') || 'nothing';
      check(
        reports.length > 0,
        `the store failure must reach the logger passed in options (idem's own engine writes it there), got ${seen}`,
      );
      check(
        reports.length === 1,
        `two requests on one failing store must be reported once (one engine per mount throttles its reports), got ${reports.length}: ${seen}`,
      );
      for (const line of log.lines) {
        check(
          !line.text.includes(key),
          `idem's log must not hold the raw key or scope, got ${JSON.stringify(line.text)}`,
        );
      }
    },
  },
  {
    group: 'store',
    name: 'failOpen: true runs the handler unprotected while the store fails',
    async body(h) {
      const t = await h.start({ store: brokenStore(), failOpen: true, logger: false });
      const key = h.key();
      for (let i = 1; i <= 2; i++) {
        const r = await t.send('/echo', { key, ...json });
        check(
          r.status === 200,
          `attempt ${i} with failOpen: expected the handler's 200, got ${r.status}`,
        );
        expectFresh(r, `attempt ${i} with failOpen`);
      }
      check(t.runs('echo') === 2, `with failOpen each attempt runs, got ${t.runs('echo')} runs`);
    },
  },
  {
    group: 'scope',
    name: 'scopes never meet: no replay, no 409 and no 422 across them',
    async body(h) {
      const t = await h.start();
      const key = h.key();
      const as = (tenant: string, body = JSON_BODY) =>
        t.send('/echo', {
          key,
          body,
          contentType: 'application/json',
          headers: { 'x-tenant': tenant },
        });
      const gate = t.hold('echo');
      const a = as('tenant-a');
      await within(gate.entered, 5_000, 'the first request never reached the handler');
      const b = await as('tenant-b');
      expectFresh(b, "tenant B while tenant A's request with the same key is in flight");
      const c = await as('tenant-c', '{"amount":999}');
      expectFresh(c, 'tenant C with the same key and another body');
      gate.open();
      const first = await a;
      expectFresh(first, 'tenant A');
      expectReplay(await as('tenant-a'), first, "tenant A's retry");
      const bAgain = await as('tenant-b');
      expectReplay(bAgain, b, "tenant B's retry");
      check(
        bAgain.header('x-run') !== first.header('x-run'),
        "tenant B must get its own response, not tenant A's",
      );
      check(t.runs('echo') === 3, `each scope runs once: expected 3 runs, got ${t.runs('echo')}`);
    },
  },
  {
    group: 'scope',
    name: 'without a scope option, the Authorization header keeps clients apart',
    async body(h) {
      const t = await h.start({ scope: undefined });
      const key = h.key();
      const as = (authorization: string) =>
        t.send('/echo', { key, ...json, headers: { authorization } });
      const alice = await as('Bearer alice');
      expectFresh(alice, 'alice');
      expectFresh(await as('Bearer bob'), "bob with alice's key");
      expectReplay(await as('Bearer alice'), alice, "alice's retry");
      check(t.runs('echo') === 2, `alice and bob each run once, got ${t.runs('echo')} runs`);
    },
  },
];
