import type { Reply, Send } from '../client.js';
import { fixtureBytes, READ_FIRST } from '../contract.js';
import { expectFresh, expectProblem, expectReplay } from '../expect.js';
import { type CheckSpec, check, type Target } from '../harness.js';

const encoder = new TextEncoder();

/** A body `/parsed` reads by its content type, and what the app makes of it. */
interface Sample {
  readonly what: string;
  readonly contentType: string;
  readonly body: Uint8Array;
  /** What `/parsed` answers it read, as `{"body": …}` holds it. */
  readonly parsed: unknown;
}

const sample = (
  what: string,
  contentType: string,
  body: string | Uint8Array,
  parsed: unknown,
): Sample => ({
  what,
  contentType,
  body: typeof body === 'string' ? encoder.encode(body) : body,
  parsed,
});

/** One body of each kind the app parses differently. */
const SAMPLES: ReadonlyArray<{
  readonly one: Sample;
  readonly other: Sample;
  readonly same?: Sample;
}> = [
  {
    one: sample('JSON', 'application/json', '{"amount":5,"currency":"eur","items":[1,2]}', {
      amount: 5,
      currency: 'eur',
      items: [1, 2],
    }),
    // Canonical JSON: another key order and whitespace are the same request.
    same: sample(
      'the JSON with another key order and whitespace',
      'application/json',
      '{ "items": [1, 2], "currency": "eur", "amount": 5 }',
      { items: [1, 2], currency: 'eur', amount: 5 },
    ),
    other: sample('other JSON', 'application/json', '{"amount":6,"currency":"eur","items":[1,2]}', {
      amount: 6,
      currency: 'eur',
      items: [1, 2],
    }),
  },
  {
    one: sample('text', 'text/plain; charset=utf-8', 'héllo wörld', 'héllo wörld'),
    other: sample('other text', 'text/plain; charset=utf-8', 'héllo world', 'héllo world'),
  },
  {
    one: sample(
      'a form',
      'application/x-www-form-urlencoded',
      'name=J%C3%BCrgen+M%C3%BCller&amount=5&note=a%26b',
      { name: 'Jürgen Müller', amount: '5', note: 'a&b' },
    ),
    other: sample(
      'another form',
      'application/x-www-form-urlencoded',
      'name=J%C3%BCrgen+M%C3%BCller&amount=6&note=a%26b',
      { name: 'Jürgen Müller', amount: '6', note: 'a&b' },
    ),
  },
  {
    // Bytes that are not UTF-8: any detour through text would change them.
    one: sample('bytes', 'application/octet-stream', fixtureBytes(300), [...fixtureBytes(300)]),
    other: sample('other bytes', 'application/octet-stream', fixtureBytes(300).reverse(), [
      ...fixtureBytes(300).reverse(),
    ]),
  },
];

/** `bytes` as a stream of two chunks: `fetch` sends it chunked, without `Content-Length`. */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const half = bytes.byteLength >> 1;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, half));
      controller.enqueue(bytes.slice(half));
      controller.close();
    },
  });
}

/** The ways a body reaches `/parsed`: read by the app before idem or not, declared or chunked. */
interface Way {
  readonly readFirst: boolean;
  readonly chunked: boolean;
}

const described = (s: Sample, way: Way) =>
  `${s.what}, ${way.readFirst ? 'read by the app before idem' : 'not read before idem'}, ${way.chunked ? 'chunked (no Content-Length)' : 'with Content-Length'}`;

function post(t: Target, key: string, s: Sample, way: Way): Promise<Reply> {
  const init: Send = {
    key,
    contentType: s.contentType,
    body: way.chunked ? chunked(s.body) : s.body,
    ...(way.readFirst ? { headers: { [READ_FIRST]: '1' } } : {}),
  };
  return t.send('/parsed', init);
}

/** Check that `/parsed` ran and answered what the app read. */
function expectParsed(reply: Reply, s: Sample, what: string): void {
  expectFresh(reply, what);
  check(
    reply.status === 200,
    `${what}: expected 200 from /parsed, got ${reply.status} ${reply.text()}`,
  );
  let got: unknown;
  try {
    got = (JSON.parse(reply.text()) as { body?: unknown }).body;
  } catch {
    throw new Error(`${what}: /parsed must answer JSON {"body": …}, got ${reply.text()}`);
  }
  check(
    JSON.stringify(got) === JSON.stringify(s.parsed),
    `${what}: the handler must read the body the client sent, ${JSON.stringify(s.parsed)}, got ${JSON.stringify(got)}`,
  );
}

/**
 * Bodies the app read before idem ran (a signature check, a validator, a
 * body parser mounted first): idem reads them from where the framework keeps
 * them, never from the spent stream, with or without `Content-Length`.
 */
export const readFirstChecks: readonly CheckSpec[] = [
  {
    group: 'bodies',
    name: 'a body the app read before idem counts as if idem had read it, with or without Content-Length: replays, 422 for another body, never a 500',
    async body(h) {
      const t = await h.start();
      for (const { one, same, other } of SAMPLES) {
        const key = h.key();
        // The request Hono answered 500 to: read first, no Content-Length.
        const first = await post(t, key, one, { readFirst: true, chunked: true });
        expectParsed(first, one, described(one, { readFirst: true, chunked: true }));
        const ways: Way[] = [
          { readFirst: true, chunked: false },
          { readFirst: false, chunked: false },
          { readFirst: false, chunked: true },
          { readFirst: true, chunked: true },
        ];
        for (const way of ways) {
          expectReplay(await post(t, key, one, way), first, `retried: ${described(one, way)}`);
        }
        if (same) {
          const way = { readFirst: true, chunked: true };
          expectReplay(await post(t, key, same, way), first, described(same, way));
        }
        for (const way of [
          { readFirst: true, chunked: true },
          { readFirst: true, chunked: false },
        ]) {
          expectProblem(
            await post(t, key, other, way),
            'fingerprint-mismatch',
            422,
            `the key of ${one.what} with ${described(other, way)}`,
          );
        }
        // The other way round: idem read the first, the app the retry.
        const fresh = h.key();
        const idemFirst = await post(t, fresh, other, { readFirst: false, chunked: true });
        expectParsed(idemFirst, other, described(other, { readFirst: false, chunked: true }));
        expectReplay(
          await post(t, fresh, other, { readFirst: true, chunked: true }),
          idemFirst,
          `retried: ${described(other, { readFirst: true, chunked: true })}`,
        );
      }
      const runs = SAMPLES.length * 2;
      check(t.runs('parsed') === runs, `expected ${runs} runs of /parsed, got ${t.runs('parsed')}`);
    },
  },
  {
    group: 'bodies',
    name: 'a body the app read before idem is held to maxRequestBytes, declared or chunked',
    async body(h) {
      const limit = 100;
      const t = await h.start({ maxRequestBytes: limit });
      // Bodies of exactly `size` bytes, which each parser gives back whole.
      const sized = (size: number): Sample[] => [
        sample('JSON', 'application/json', `{"pad":"${'a'.repeat(size - 10)}"}`, {
          pad: 'a'.repeat(size - 10),
        }),
        sample('text', 'text/plain; charset=utf-8', 'a'.repeat(size), 'a'.repeat(size)),
        sample('a form', 'application/x-www-form-urlencoded', `pad=${'a'.repeat(size - 4)}`, {
          pad: 'a'.repeat(size - 4),
        }),
        sample('bytes', 'application/octet-stream', fixtureBytes(size), [...fixtureBytes(size)]),
      ];
      for (const s of sized(limit + 1)) {
        for (const chunked of [false, true]) {
          const way = { readFirst: true, chunked };
          expectProblem(
            await post(t, h.key(), s, way),
            'request-too-large',
            413,
            `${described(s, way)}, ${limit + 1} bytes over a limit of ${limit}`,
          );
        }
      }
      check(
        t.runs('parsed') === 0,
        `a refused body must not run the handler, got ${t.runs('parsed')}`,
      );
      for (const s of sized(limit)) {
        const way = { readFirst: true, chunked: true };
        expectParsed(
          await post(t, h.key(), s, way),
          s,
          `${described(s, way)}, exactly ${limit} bytes`,
        );
      }
    },
  },
];
