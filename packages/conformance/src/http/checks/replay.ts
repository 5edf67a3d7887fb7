import fc from 'fast-check';
import { sameBytes } from '../../bytes.js';
import { fcParameters } from '../../fc.js';
import type { Reply } from '../client.js';
import { EVENTS, fixtureBytes } from '../contract.js';
import { expectFresh, expectProblem, expectReplay } from '../expect.js';
import { type CheckSpec, check } from '../harness.js';

const octets = 'application/octet-stream';
const MiB = 1024 * 1024;

/** First request, replay, and what happens to each kind of handler answer. */
export const replayChecks: readonly CheckSpec[] = [
  {
    group: 'replay',
    name: 'the first request runs once and goes out untouched; a retry gets it back byte for byte',
    async body(h, runs) {
      const t = await h.start();
      let expected = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 4096 }),
          fc.constantFrom('POST', 'PATCH'),
          fc.constantFrom(200, 201, 202, 400, 404, 409, 422),
          async (body, method, status) => {
            const key = h.key();
            const send = () =>
              t.send(`/echo?status=${status}`, { method, key, body, contentType: octets });
            const first = await send();
            expected++;
            const what = `${method} ${status} with ${body.byteLength} body bytes`;
            check(
              first.status === status,
              `${what}: the first answer must be the handler's ${status}, got ${first.status}`,
            );
            expectFresh(first, what);
            check(
              sameBytes(first.body, body),
              `${what}: the handler must read the body idem fingerprinted, byte for byte`,
            );
            check(
              first.header('set-cookie') === `run=${expected}`,
              `${what}: the first answer keeps its Set-Cookie`,
            );
            check(
              first.header('x-multi') === 'one, two',
              `${what}: a repeated header must go out repeated`,
            );
            const replay = await send();
            expectReplay(replay, first, what);
            check(
              replay.header('set-cookie') === undefined,
              `${what}: Set-Cookie must not be replayed by default`,
            );
            check(t.runs('echo') === expected, `${what}: the handler ran again for a retry`);
          },
        ),
        fcParameters(runs),
      );
    },
  },
  {
    group: 'replay',
    name: 'replaySetCookie: true replays Set-Cookie',
    async body(h) {
      const t = await h.start({ replaySetCookie: true });
      const key = h.key();
      const first = await t.send('/echo', { key, body: 'x', contentType: octets });
      const replay = await t.send('/echo', { key, body: 'x', contentType: octets });
      expectReplay(replay, first, 'with replaySetCookie');
      check(
        replay.header('set-cookie') === 'run=1',
        `Set-Cookie must be replayed, got ${JSON.stringify(replay.header('set-cookie'))}`,
      );
    },
  },
  {
    group: 'replay',
    name: 'an empty 204 replays as an empty 204',
    async body(h) {
      const t = await h.start();
      const key = h.key();
      const first = await t.send('/empty', { key });
      check(
        first.status === 204 && first.body.byteLength === 0,
        `/empty must answer an empty 204, got ${first.status}`,
      );
      const replay = await t.send('/empty', { key });
      expectReplay(replay, first, 'empty 204');
      check(t.runs('empty') === 1, `/empty ran ${t.runs('empty')} times`);
    },
  },
  {
    group: 'outcomes',
    name: '4xx answers are stored and replayed',
    async body(h) {
      const t = await h.start();
      for (const status of [400, 403, 404, 409, 422]) {
        const key = h.key();
        const first = await t.send(`/echo?status=${status}`, {
          key,
          body: 'x',
          contentType: octets,
        });
        check(first.status === status, `expected the handler's ${status}, got ${first.status}`);
        expectReplay(
          await t.send(`/echo?status=${status}`, { key, body: 'x', contentType: octets }),
          first,
          `a ${status}`,
        );
      }
      check(t.runs('echo') === 5, `each 4xx must run once, got ${t.runs('echo')} runs for 5`);
    },
  },
  {
    group: 'outcomes',
    name: 'transient answers (5xx, 408, 425, 429) and thrown errors release the key: a retry runs again',
    async body(h) {
      const t = await h.start();
      const transient = [500, 503, 408, 425, 429];
      for (const status of transient) {
        const key = h.key();
        for (let i = 1; i <= 2; i++) {
          const r = await t.send(`/echo?status=${status}`, { key, body: 'x', contentType: octets });
          check(
            r.status === status,
            `attempt ${i}: expected the handler's ${status}, got ${r.status}`,
          );
          expectFresh(r, `a ${status}, attempt ${i}`);
        }
      }
      check(
        t.runs('echo') === 2 * transient.length,
        `each transient answer must run again on retry: expected ${2 * transient.length} runs, got ${t.runs('echo')}`,
      );
      for (const path of ['/throw', '/throw?async=1']) {
        const key = h.key();
        for (let i = 1; i <= 2; i++) {
          const r = await t.send(path, { key });
          check(
            r.status >= 500,
            `${path}, attempt ${i}: a thrown error must answer 5xx, got ${r.status}`,
          );
          check(
            r.header('idempotent-replayed') === undefined,
            `${path}, attempt ${i}: a thrown error must not be replayed`,
          );
        }
      }
      check(
        t.runs('throw') === 4,
        `a thrown error must release the key: expected 4 runs, got ${t.runs('throw')}`,
      );
    },
  },
  {
    group: 'outcomes',
    name: 'shouldStore decides which statuses are kept: with () => true a 5xx is stored and replayed',
    async body(h) {
      const t = await h.start({ shouldStore: () => true });
      const key = h.key();
      const first = await t.send('/echo?status=500', { key, body: 'x', contentType: octets });
      check(first.status === 500, `expected the handler's 500, got ${first.status}`);
      expectReplay(
        await t.send('/echo?status=500', { key, body: 'x', contentType: octets }),
        first,
        'a stored 500',
      );
      check(t.runs('echo') === 1, `a stored 500 must not run again, got ${t.runs('echo')} runs`);
    },
  },
  {
    group: 'bodies',
    name: "1 MiB request and response bodies replay byte for byte, or get 410 over the store's limit",
    async body(h) {
      const t = await h.start({ maxRequestBytes: 2 * MiB });
      // A store may keep less than 1 MiB (DynamoDB: 350 KiB). Over its limit,
      // "response too large" (docs/SEMANTICS.md) applies: the first answer goes out
      // whole, a retry gets 410 response-not-stored, nothing runs twice, and
      // a truncated replay is never an option.
      const retried = (retry: Reply, first: Reply, what: string) => {
        if (first.body.byteLength <= t.maxResponseBytes) return expectReplay(retry, first, what);
        const problem = expectProblem(
          retry,
          'response-not-stored',
          410,
          `${what} (${first.body.byteLength} bytes, over the limit of ${t.maxResponseBytes})`,
        );
        check(
          String(problem.detail).includes(String(first.status)),
          `${what}: the 410's detail must name the original status (${first.status}): ${String(problem.detail)}`,
        );
      };
      const upload = fixtureBytes(MiB + 7).reverse();
      const key = h.key();
      const first = await t.send('/echo', { key, body: upload, contentType: octets });
      check(
        first.status === 200 && sameBytes(first.body, upload),
        `the handler must read the whole 1 MiB request body and echo it, got ${first.status} with ${first.body.byteLength} bytes`,
      );
      expectFresh(first, '1 MiB echo');
      retried(
        await t.send('/echo', { key, body: upload, contentType: octets }),
        first,
        '1 MiB echo',
      );
      const download = h.key();
      const big = await t.send(`/bytes?size=${MiB}`, { key: download });
      check(
        big.status === 200 && sameBytes(big.body, fixtureBytes(MiB)),
        `/bytes must send 1 MiB of fixtureBytes, got ${big.status} with ${big.body.byteLength} bytes`,
      );
      expectFresh(big, '1 MiB response');
      retried(await t.send(`/bytes?size=${MiB}`, { key: download }), big, '1 MiB response');
      check(
        t.runs('echo') === 1 && t.runs('bytes') === 1,
        `each 1 MiB request must run once, got ${t.runs('echo')} and ${t.runs('bytes')} runs`,
      );
    },
  },
  {
    group: 'bodies',
    name: 'a request body over maxRequestBytes answers 413, declared or streamed; nothing runs, nothing is stored',
    async body(h) {
      const t = await h.start({ maxRequestBytes: 1000 });
      const key = h.key();
      const big = fixtureBytes(64 * 1024);
      const declared = await t.send('/echo', { key, body: big, contentType: octets });
      expectProblem(declared, 'request-too-large', 413, 'a body of declared length over the limit');
      const streamed = await t.send('/echo', {
        key,
        body: new ReadableStream<Uint8Array>({
          start(controller) {
            for (let at = 0; at < big.byteLength; at += 500) {
              controller.enqueue(big.slice(at, at + 500));
            }
            controller.close();
          },
        }),
        contentType: octets,
      });
      expectProblem(streamed, 'request-too-large', 413, 'a streamed body over the limit');
      check(t.runs('echo') === 0, `a refused body must not run the handler, got ${t.runs('echo')}`);
      const small = fixtureBytes(1000);
      const fits = await t.send('/echo', { key, body: small, contentType: octets });
      check(
        fits.status === 200 && sameBytes(fits.body, small),
        `the same key with a body within the limit must run (nothing was stored), got ${fits.status}`,
      );
      expectFresh(fits, 'a body of exactly maxRequestBytes');
      check(t.runs('echo') === 1, `expected 1 run, got ${t.runs('echo')}`);
    },
  },
  {
    group: 'bodies',
    name: 'a response over maxResponseBytes goes out whole, then 410 response-not-stored, never a second run',
    async body(h) {
      const t = await h.start({ maxResponseBytes: 1000 });
      const cases = ['/bytes?size=5000', '/bytes?size=5000&chunk=700', '/bytes?size=1001&chunk=1'];
      for (const path of cases) {
        const key = h.key();
        const size = Number(new URL(path, t.url).searchParams.get('size'));
        const first = await t.send(path, { key });
        check(
          first.status === 200 && sameBytes(first.body, fixtureBytes(size)),
          `${path}: the first answer must go out whole (${size} bytes), got ${first.status} with ${first.body.byteLength} bytes`,
        );
        expectFresh(first, path);
        const body = expectProblem(
          await t.send(path, { key }),
          'response-not-stored',
          410,
          `${path} retried`,
        );
        check(
          String(body.detail).includes('200'),
          `${path}: the 410's detail must name the original status (200): ${String(body.detail)}`,
        );
      }
      check(
        t.runs('bytes') === cases.length,
        `an unstored response must never run twice: expected ${cases.length} runs, got ${t.runs('bytes')}`,
      );
      const key = h.key();
      const fits = await t.send('/bytes?size=1000&chunk=300', { key });
      expectReplay(
        await t.send('/bytes?size=1000&chunk=300', { key }),
        fits,
        'a streamed response of exactly maxResponseBytes',
      );
    },
  },
  {
    group: 'bodies',
    name: 'text/event-stream answers stream through whole and are never replayed',
    async body(h) {
      const t = await h.start();
      const key = h.key();
      const first = await t.send('/events', { key });
      check(
        first.status === 200 && first.text() === EVENTS.join(''),
        `/events must deliver every event, got ${first.status} ${JSON.stringify(first.text())}`,
      );
      expectFresh(first, '/events');
      expectProblem(
        await t.send('/events', { key }),
        'response-not-stored',
        410,
        '/events retried',
      );
      check(
        t.runs('events') === 1,
        `an event stream must never run twice, got ${t.runs('events')} runs`,
      );
    },
  },
];
