import type { Store } from '@idem/core/store';
import { sameBytes } from '../../bytes.js';
import type { Reply, Send } from '../client.js';
import { fixtureBytes, type HeaderReader } from '../contract.js';
import { expectFresh, expectProblem, expectReplay } from '../expect.js';
import { type CheckSpec, check, type Target } from '../harness.js';
import { referenceStore } from '../reference-store.js';

const json = 'application/json';
const text = 'text/plain';
const octets = 'application/octet-stream';

/** The `maxRequestBytes` of the body-limit checks, and the body they send over it. */
const LIMIT = 10;
const OVER = fixtureBytes(111);

/** {@link OVER} both ways a client sends it: with its `Content-Length`, and streamed without one. */
const SENT_AS: ReadonlyArray<readonly [string, () => Send['body']]> = [
  ['declared', () => OVER],
  [
    'streamed',
    () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < OVER.byteLength; at += 37) {
            controller.enqueue(OVER.slice(at, at + 37));
          }
          controller.close();
        },
      }),
  ],
];

/** The handler's own 200, not a replay, a problem or an error. */
function expectRan(reply: Reply, what: string): void {
  check(
    reply.status === 200,
    `${what}: expected the handler's 200, got ${reply.status} ${reply.text()}`,
  );
  expectFresh(reply, what);
}

/** `send` runs the handler once (its 200), and sent again gets that answer replayed. */
async function expectRunThenReplay(send: () => Promise<Reply>, what: string): Promise<Reply> {
  const first = await send();
  expectRan(first, what);
  expectReplay(await send(), first, `${what}, sent again`);
  return first;
}

/** A request idem let through untouched: the handler's 200, with the whole body it was sent. */
function expectPassed(reply: Reply, sent: Uint8Array, what: string): void {
  expectRan(reply, what);
  check(
    sameBytes(reply.body, sent),
    `${what}: the handler must get the whole body, ${sent.byteLength} bytes, got ${reply.body.byteLength}`,
  );
}

function expectRuns(t: Target, route: 'echo' | 'own', runs: number, what: string): void {
  check(
    t.runs(route) === runs,
    `${what}: expected ${runs} runs of /${route}, got ${t.runs(route)}`,
  );
}

/** The `detail` of a problem names where the route looks for its key. */
function expectNamed(problem: Record<string, unknown>, place: string, what: string): void {
  check(
    String(problem.detail).toLowerCase().includes(place.toLowerCase()),
    `${what}: the problem must say where the route takes its key from (${place}), got ${JSON.stringify(problem.detail)}`,
  );
}

/** A store that notes the lease of every claim and the expiry of every completion. */
function recordingStore(): { store: Store; leases: number[]; ttls: number[] } {
  const store = referenceStore();
  const leases: number[] = [];
  const ttls: number[] = [];
  return {
    leases,
    ttls,
    store: {
      ...store,
      claim(key, request) {
        leases.push(request.leaseMs);
        return store.claim(key, request);
      },
      complete(key, token, response, ttlMs) {
        ttls.push(ttlMs);
        return store.complete(key, token, response, ttlMs);
      },
    },
  };
}

/** Wait, at most 5 s, for `condition`: a completion may land just after its response. */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 50));
  check(condition(), what);
}

/** A key of the form a route with `keyFormat: 'uuid'` takes. */
const uuid = (): string => globalThis.crypto.randomUUID();

/**
 * Route options, on the mount (`/echo`) and as one route's overrides over it
 * (`/own`): where the key comes from, whether it is required, which requests
 * are skipped, what a key must look like, what counts in the fingerprint,
 * each record's times, what is replayed, and where the body limit stands
 * among the other checks. Every function of the request reads its headers.
 */
export const routeChecks: readonly CheckSpec[] = [
  {
    group: 'routes',
    name: "a route's own key header, or list of headers (the first present wins), is the only place it looks; the mount's routes keep theirs",
    async body(h) {
      const t = await h.start({}, { key: 'x-delivery-id' });
      const send = (path: string, headers: Record<string, string>) =>
        t.send(path, { headers, body: 'a', contentType: text });
      const id = h.key();
      await expectRunThenReplay(
        () => send('/own', { 'x-delivery-id': id }),
        "a key from the route's x-delivery-id",
      );
      expectNamed(
        expectProblem(
          await send('/own', { 'idempotency-key': h.key() }),
          'key-missing',
          400,
          'only Idempotency-Key, where the route takes x-delivery-id',
        ),
        'x-delivery-id',
        'a route that takes x-delivery-id',
      );
      expectProblem(
        await send('/echo', { 'x-delivery-id': h.key() }),
        'key-missing',
        400,
        "only x-delivery-id, on the mount's route, which takes Idempotency-Key",
      );
      const mountKey = h.key();
      await expectRunThenReplay(
        () => send('/echo', { 'idempotency-key': mountKey }),
        "Idempotency-Key on the mount's route",
      );
      expectRuns(t, 'own', 1, 'x-delivery-id');
      expectRuns(t, 'echo', 1, 'Idempotency-Key');

      const list = await h.start({ key: ['webhook-id', 'svix-id'] }, { key: 'idempotency-key' });
      const sendList = (path: string, headers: Record<string, string>) =>
        list.send(path, { headers, body: 'a', contentType: text });
      const delivery = h.key();
      const delivered = await sendList('/echo', { 'svix-id': delivery });
      expectRan(delivered, 'a key from svix-id, the second header of the list');
      expectReplay(
        await sendList('/echo', { 'webhook-id': delivery }),
        delivered,
        'the same key in webhook-id, the first header of the list',
      );
      expectReplay(
        await sendList('/echo', { 'webhook-id': delivery, 'svix-id': h.key() }),
        delivered,
        'webhook-id with another svix-id: the first header present wins',
      );
      expectNamed(
        expectProblem(
          await sendList('/echo', { 'idempotency-key': h.key() }),
          'key-missing',
          400,
          'only Idempotency-Key, where the mount takes webhook-id or svix-id',
        ),
        'webhook-id',
        'a mount that takes webhook-id or svix-id',
      );
      const routeKey = h.key();
      await expectRunThenReplay(
        () => sendList('/own', { 'idempotency-key': routeKey }),
        'Idempotency-Key on a route that takes it back',
      );
      expectProblem(
        await sendList('/own', { 'svix-id': h.key() }),
        'key-missing',
        400,
        'only svix-id, on a route that takes Idempotency-Key',
      );
      expectRuns(list, 'echo', 1, 'the list of headers');
      expectRuns(list, 'own', 1, "the route's Idempotency-Key");
    },
  },
  {
    group: 'routes',
    name: 'a key from a JSON Pointer into the body or from a function of the request; keyless requests pass with required: false',
    async body(h) {
      const t = await h.start(
        { key: { body: '/event/id' }, required: false },
        {
          required: true,
          key: (header: HeaderReader) => {
            const shop = header('x-shop');
            const event = header('x-event');
            return shop && event ? `${shop}:${event}` : undefined;
          },
        },
      );
      const event = h.key();
      const body = JSON.stringify({ event: { id: event, type: 'paid' } });
      await expectRunThenReplay(
        () => t.send('/echo', { body, contentType: json }),
        'a key from the body',
      );
      expectRan(
        await t.send('/echo', { body: '{"event":{}}', contentType: json }),
        'a keyless request, with required: false',
      );
      expectRuns(t, 'echo', 2, 'one event, one keyless request');

      const shop = (name: string, id: string) =>
        t.send('/own', {
          headers: { 'x-shop': name, 'x-event': id },
          body: 'a',
          contentType: text,
        });
      const id = h.key();
      await expectRunThenReplay(() => shop('north', id), 'a key from a function of the request');
      expectRan(await shop('south', id), 'another shop: the function gives another key');
      expectProblem(
        await t.send('/own', { headers: { 'x-shop': 'north' }, body: 'a', contentType: text }),
        'key-missing',
        400,
        'a function that finds no key, on a route that requires one',
      );
      expectRuns(t, 'own', 2, 'two shops');
    },
  },
  {
    group: 'routes',
    name: "required: false on a route runs keyless requests unprotected; the mount's routes still answer 400",
    async body(h) {
      const t = await h.start({}, { required: false });
      for (let i = 1; i <= 2; i++) {
        expectPassed(
          await t.send('/own', { body: OVER, contentType: octets }),
          OVER,
          `keyless request ${i} on the route`,
        );
      }
      const key = h.key();
      await expectRunThenReplay(
        () => t.send('/own', { key, body: 'a', contentType: text }),
        'a request with a key on the route, still protected',
      );
      expectProblem(
        await t.send('/echo', { body: 'a', contentType: text }),
        'key-missing',
        400,
        "a keyless request on the mount's route",
      );
      expectRuns(t, 'own', 3, 'two keyless, one keyed');
      expectRuns(t, 'echo', 0, "the mount's keyless request");
    },
  },
  {
    group: 'routes',
    name: "skip on a route passes the requests it picks through untouched, whatever their key; the route's other requests and the mount's are covered",
    async body(h) {
      const t = await h.start({}, { skip: (header: HeaderReader) => header('x-dry-run') === '1' });
      const dry = { 'x-dry-run': '1' };
      const key = h.key();
      for (const [what, init] of [
        ['a key', { key }],
        ['the same key again', { key }],
        ['no key', {}],
        ['a malformed key', { key: 'a b' }],
      ] as const) {
        expectPassed(
          await t.send('/own', { ...init, headers: dry, body: OVER, contentType: octets }),
          OVER,
          `a skipped request with ${what}`,
        );
      }
      expectRuns(t, 'own', 4, 'skipped requests each run');
      // Nothing was stored under the key the skipped requests carried.
      await expectRunThenReplay(
        () => t.send('/own', { key, body: 'a', contentType: text }),
        'the key, not skipped',
      );
      expectProblem(
        await t.send('/own', { key: 'a b', body: 'a', contentType: text }),
        'key-invalid',
        400,
        'a malformed key, not skipped',
      );
      const mountKey = h.key();
      await expectRunThenReplay(
        () => t.send('/echo', { key: mountKey, headers: dry, body: 'a', contentType: text }),
        "the mount's route, which does not skip",
      );
      expectRuns(t, 'own', 5, 'four skipped, one covered');
      expectRuns(t, 'echo', 1, "the mount's route");
    },
  },
  {
    group: 'routes',
    name: "keyFormat: a route's 'uuid' and the mount's { minLength } each refuse other keys with 400 key-invalid",
    async body(h) {
      const t = await h.start({ keyFormat: { minLength: 8 } }, { keyFormat: 'uuid' });
      const send = (path: string, key: string) =>
        t.send(path, { key, body: 'a', contentType: text });
      expectProblem(await send('/own', h.key()), 'key-invalid', 400, 'a key that is not a UUID');
      expectProblem(await send('/own', 'short'), 'key-invalid', 400, 'a short key, not a UUID');
      const id = uuid();
      await expectRunThenReplay(() => send('/own', id), 'a UUID');
      expectProblem(
        await send('/echo', 'short'),
        'key-invalid',
        400,
        "a key shorter than the mount's minLength",
      );
      const long = `k-${h.key()}`;
      await expectRunThenReplay(
        () => send('/echo', long),
        "a long key that is not a UUID, on the mount's route",
      );
      expectRuns(t, 'own', 1, 'one UUID');
      expectRuns(t, 'echo', 1, 'one long key');
    },
  },
  {
    group: 'routes',
    name: 'fingerprint options: omitted JSON members and chosen headers, false (the key alone), or a function of the request',
    async body(h) {
      const t = await h.start(
        { fingerprint: { omit: ['/sentAt'], headers: ['x-api-version'] } },
        { fingerprint: false },
      );
      const key = h.key();
      const send = (path: string, amount: number, sentAt: string, version: string) =>
        t.send(path, {
          key,
          headers: { 'x-api-version': version },
          body: JSON.stringify({ amount, sentAt }),
          contentType: json,
        });
      const first = await send('/echo', 5, '10:00', 'v1');
      expectRan(first, 'the first request');
      expectReplay(await send('/echo', 5, '10:01', 'v1'), first, 'a retry sent a minute later');
      expectProblem(
        await send('/echo', 6, '10:00', 'v1'),
        'fingerprint-mismatch',
        422,
        'another amount',
      );
      expectProblem(
        await send('/echo', 5, '10:00', 'v2'),
        'fingerprint-mismatch',
        422,
        'another API version',
      );
      expectRuns(t, 'echo', 1, 'omitted members and headers');

      const byKey = h.key();
      const keyOnly = (body: string, version: string) =>
        t.send('/own', {
          key: byKey,
          headers: { 'x-api-version': version },
          body,
          contentType: json,
        });
      const keyFirst = await keyOnly('{"amount":5}', 'v1');
      expectRan(keyFirst, 'fingerprint: false, first request');
      expectReplay(
        await keyOnly('{"amount":6}', 'v2'),
        keyFirst,
        'fingerprint: false, another body and version with the same key',
      );
      expectRuns(t, 'own', 1, 'fingerprint: false');

      const byOrder = await h.start(
        {},
        {
          fingerprint: (header: HeaderReader, request) =>
            `${request.method} ${request.path} ${header('x-order') ?? ''}`,
        },
      );
      const orderKey = h.key();
      const order = (id: string, body: string) =>
        byOrder.send('/own', {
          key: orderKey,
          headers: { 'x-order': id },
          body,
          contentType: text,
        });
      const ordered = await order('o-1', 'a');
      expectRan(ordered, 'a fingerprint function, first request');
      expectReplay(await order('o-1', 'b'), ordered, 'the same order with another body');
      expectProblem(
        await order('o-2', 'a'),
        'fingerprint-mismatch',
        422,
        'another order, which the function tells apart',
      );
      const mountKey = h.key();
      expectRan(
        await byOrder.send('/echo', { key: mountKey, body: 'a', contentType: text }),
        "the mount's route",
      );
      expectProblem(
        await byOrder.send('/echo', { key: mountKey, body: 'b', contentType: text }),
        'fingerprint-mismatch',
        422,
        "another body on the mount's route, which fingerprints the body",
      );
      expectRuns(byOrder, 'own', 1, 'a fingerprint function');
    },
  },
  {
    group: 'routes',
    name: "ttlMs and leaseMs as functions of a route's request set each record's lease and expiry; the mount's routes keep theirs",
    async body(h) {
      const log = recordingStore();
      const t = await h.start(
        { store: log.store, ttlMs: 7_200_000, leaseMs: 20_000 },
        {
          ttlMs: (header: HeaderReader) => (header('x-plan') === 'trial' ? 60_000 : 3_600_000),
          leaseMs: (header: HeaderReader) => (header('x-plan') === 'trial' ? 10_000 : 40_000),
        },
      );
      const cases = [
        ['/own', 'trial', 10_000, 60_000],
        ['/own', 'paid', 40_000, 3_600_000],
        ['/echo', 'trial', 20_000, 7_200_000],
      ] as const;
      for (const [path, plan, leaseMs, ttlMs] of cases) {
        const what = `${path} for a ${plan} plan`;
        const claims = log.leases.length;
        const completions = log.ttls.length;
        const first = await t.send(path, {
          key: h.key(),
          headers: { 'x-plan': plan },
          body: 'a',
          contentType: text,
        });
        expectRan(first, what);
        await eventually(
          () => log.ttls.length > completions,
          `${what}: the response was never stored`,
        );
        check(
          log.leases.length === claims + 1 && log.leases.at(-1) === leaseMs,
          `${what}: expected one claim with a ${leaseMs} ms lease, got ${JSON.stringify(log.leases.slice(claims))}`,
        );
        check(
          log.ttls.length === completions + 1 && log.ttls.at(-1) === ttlMs,
          `${what}: expected the result kept ${ttlMs} ms, got ${JSON.stringify(log.ttls.slice(completions))}`,
        );
      }
    },
  },
  {
    group: 'routes',
    name: 'the body limit comes after method, skip and key: requests passed through keep their whole body, a missing or refused key answers 400, a valid key 413',
    async body(h) {
      const t = await h.start(
        {},
        {
          maxRequestBytes: LIMIT,
          keyFormat: 'uuid',
          skip: (header: HeaderReader) => header('x-skip') === '1',
        },
      );
      const key = uuid();
      const skipped = { 'x-skip': '1' };
      for (const [how, body] of SENT_AS) {
        const send = (init: Send) => t.send('/own', { contentType: octets, ...init, body: body() });
        const what = (request: string) => `${request}, with a body ${how} over maxRequestBytes`;
        expectPassed(await send({ method: 'PUT', key }), OVER, what('PUT, a method not covered'));
        expectPassed(await send({ key, headers: skipped }), OVER, what('a skipped request'));
        expectPassed(
          await send({ key: 'a b', headers: skipped }),
          OVER,
          what('a skipped request with a malformed key'),
        );
        expectProblem(await send({}), 'key-missing', 400, what('no key'));
        expectProblem(await send({ key: 'a b' }), 'key-invalid', 400, what('a malformed key'));
        expectProblem(
          await send({ key: h.key() }),
          'key-invalid',
          400,
          what('a key that is not the UUID keyFormat asks for'),
        );
        expectProblem(await send({ key }), 'request-too-large', 413, what('a valid key'));
      }
      expectRuns(t, 'own', 6, 'the requests passed through');
      // Nothing was stored under the key: a body within the limit runs.
      const fits = OVER.slice(0, LIMIT);
      expectPassed(
        await t.send('/own', { key, body: fits, contentType: octets }),
        fits,
        'the same key with a body within the limit',
      );
      expectPassed(
        await t.send('/echo', { key: h.key(), body: OVER, contentType: octets }),
        OVER,
        "the mount's route, which keeps the mount's limit",
      );
    },
  },
  {
    group: 'routes',
    name: 'the body limit with other key sources: headers and functions answer a missing key first (400, or passed through with required: false); a key in the body needs the body, so 413; fingerprint: false does not lift the limit',
    async body(h) {
      const over = (how: string) => (request: string) =>
        `${request}, with a body ${how} over maxRequestBytes`;
      const headers = await h.start(
        { maxRequestBytes: LIMIT, key: ['webhook-id', 'svix-id'] },
        { key: { headers: ['x-shop', 'x-event'] } },
      );
      for (const [how, body] of SENT_AS) {
        const send = (path: string, sent: Record<string, string>) =>
          headers.send(path, { headers: sent, body: body(), contentType: octets });
        const what = over(how);
        expectProblem(
          await send('/echo', {}),
          'key-missing',
          400,
          what('no webhook-id or svix-id'),
        );
        expectProblem(
          await send('/echo', { 'svix-id': h.key() }),
          'request-too-large',
          413,
          what('a key in svix-id'),
        );
        expectProblem(
          await send('/own', { 'x-shop': 'north' }),
          'key-missing',
          400,
          what('x-shop without x-event, where the key takes both'),
        );
        expectProblem(
          await send('/own', { 'x-shop': 'north', 'x-event': h.key() }),
          'request-too-large',
          413,
          what('x-shop and x-event'),
        );
      }
      expectRuns(headers, 'echo', 0, 'refused requests');
      expectRuns(headers, 'own', 0, 'refused requests');

      const byFunction = await h.start(
        { maxRequestBytes: LIMIT, key: (header: HeaderReader) => header('x-event') },
        { required: false },
      );
      for (const [how, body] of SENT_AS) {
        const send = (path: string, sent: Record<string, string>) =>
          byFunction.send(path, { headers: sent, body: body(), contentType: octets });
        const what = over(how);
        expectProblem(
          await send('/echo', {}),
          'key-missing',
          400,
          what('a key function that finds no key'),
        );
        expectPassed(
          await send('/own', {}),
          OVER,
          what('a key function that finds no key, with required: false'),
        );
        expectProblem(
          await send('/own', { 'x-event': h.key() }),
          'request-too-large',
          413,
          what('a key function that finds one'),
        );
      }
      expectRuns(byFunction, 'echo', 0, 'refused requests');
      expectRuns(byFunction, 'own', 2, 'keyless requests passed through');

      const inBody = await h.start(
        { maxRequestBytes: LIMIT, key: { body: '/id' }, required: false },
        { key: 'idempotency-key', fingerprint: false },
      );
      for (const [how, body] of SENT_AS) {
        const send = (path: string, init: Send = {}) =>
          inBody.send(path, { ...init, body: body(), contentType: octets });
        const what = over(how);
        expectProblem(
          await send('/echo'),
          'request-too-large',
          413,
          what('a key in the body, even with required: false'),
        );
        expectProblem(
          await send('/own', { key: h.key() }),
          'request-too-large',
          413,
          what('a key, with fingerprint: false'),
        );
      }
      expectRuns(inBody, 'echo', 0, 'bodies too large for their key');
      expectRuns(inBody, 'own', 0, 'bodies too large');
    },
  },
  {
    group: 'routes',
    name: 'replayHeaders keeps only the named headers; documentationUrl links 400 and 422 problems',
    async body(h) {
      const url = 'https://example.com/docs/idempotency';
      const t = await h.start({ replayHeaders: ['content-type', 'x-run'], documentationUrl: url });
      const key = h.key();
      const first = await t.send('/echo', { key, body: 'x', contentType: 'text/plain' });
      check(first.header('x-multi') === 'one, two', 'the first answer keeps every header');
      const replay = await t.send('/echo', { key, body: 'x', contentType: 'text/plain' });
      check(replay.header('idempotent-replayed') === 'true', 'the retry must be a replay');
      check(sameBytes(replay.body, first.body), 'the replayed body must be the first body');
      check(replay.header('x-run') === first.header('x-run'), 'x-run is named: replayed');
      check(
        replay.header('x-multi') === undefined,
        `x-multi is not named: not replayed, got ${replay.header('x-multi')}`,
      );
      const described = `<${url}>; rel="describedby"`;
      const missing = await t.send('/echo', { body: 'x', contentType: 'text/plain' });
      expectProblem(missing, 'key-missing', 400, 'no key');
      check(
        missing.header('link') === described,
        `a 400 must link the documentation, got ${missing.header('link')}`,
      );
      const mismatch = await t.send('/echo', { key, body: 'y', contentType: 'text/plain' });
      expectProblem(mismatch, 'fingerprint-mismatch', 422, 'the key with another body');
      check(
        mismatch.header('link') === described,
        `a 422 must link the documentation, got ${mismatch.header('link')}`,
      );
    },
  },
];
