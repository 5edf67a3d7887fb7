import { sameBytes } from '../../bytes.js';
import { expectFresh, expectProblem, expectReplay } from '../expect.js';
import { type CheckSpec, check } from '../harness.js';

const json = 'application/json';

/**
 * Route options (the data-only ones, which every test app can take, even one
 * inside a Worker): where the key comes from, what counts in the
 * fingerprint, what is replayed, and the documentation link.
 */
export const routeChecks: readonly CheckSpec[] = [
  {
    group: 'routes',
    name: 'key from a header of its own or a JSON Pointer into the body; keyless requests pass with required: false',
    async body(h) {
      const byHeader = await h.start({ key: 'x-delivery-id' });
      const id = h.key();
      const first = await byHeader.send('/echo', {
        headers: { 'x-delivery-id': id },
        body: 'a',
        contentType: 'text/plain',
      });
      expectFresh(first, 'a key from x-delivery-id');
      expectReplay(
        await byHeader.send('/echo', {
          headers: { 'x-delivery-id': id },
          body: 'a',
          contentType: 'text/plain',
        }),
        first,
        'the same x-delivery-id',
      );
      expectProblem(
        await byHeader.send('/echo', { key: id, body: 'a', contentType: 'text/plain' }),
        'key-missing',
        400,
        'only Idempotency-Key, where the route takes x-delivery-id',
      );

      const byBody = await h.start({ key: { body: '/event/id' }, required: false });
      const event = h.key();
      const body = JSON.stringify({ event: { id: event, type: 'paid' } });
      const delivered = await byBody.send('/echo', { body, contentType: json });
      expectFresh(delivered, 'a key from the body');
      expectReplay(
        await byBody.send('/echo', { body, contentType: json }),
        delivered,
        'the same event id',
      );
      const keyless = await byBody.send('/echo', { body: '{"event":{}}', contentType: json });
      check(
        keyless.status === 200,
        `a keyless request must pass with required: false, got ${keyless.status}`,
      );
      expectFresh(keyless, 'a keyless request');
      check(
        byBody.runs('echo') === 2,
        `expected 2 runs (one event, one keyless), got ${byBody.runs('echo')}`,
      );
    },
  },
  {
    group: 'routes',
    name: 'fingerprint options: omitted JSON members and chosen headers; keyFormat refuses other keys',
    async body(h) {
      const t = await h.start({
        fingerprint: { omit: ['/sentAt'], headers: ['x-api-version'] },
        keyFormat: { minLength: 8 },
      });
      const key = `k-${h.key()}`;
      const send = (amount: number, sentAt: string, version: string) =>
        t.send('/echo', {
          key,
          headers: { 'x-api-version': version },
          body: JSON.stringify({ amount, sentAt }),
          contentType: json,
        });
      const first = await send(5, '10:00', 'v1');
      expectFresh(first, 'the first request');
      expectReplay(await send(5, '10:01', 'v1'), first, 'a retry sent a minute later');
      expectProblem(await send(6, '10:00', 'v1'), 'fingerprint-mismatch', 422, 'another amount');
      expectProblem(
        await send(5, '10:00', 'v2'),
        'fingerprint-mismatch',
        422,
        'another API version',
      );
      expectProblem(
        await t.send('/echo', { key: 'short', body: '{}', contentType: json }),
        'key-invalid',
        400,
        'a key shorter than keyFormat.minLength',
      );
      check(t.runs('echo') === 1, `expected 1 run, got ${t.runs('echo')}`);
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
