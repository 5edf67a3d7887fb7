import type { IncomingMessage } from 'node:http';
import { fcParameters } from '@idem/conformance';
import { memoryStore } from '@idem/store-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatOf, requestOf } from '../src/http/event.js';
import { idempotency, type LambdaHttpEvent } from '../src/index.js';
import {
  type GatewayFormat,
  invocationContext,
  toEvent,
  type Wire,
  wireOf,
} from './http/gateway.js';

const FORMATS: readonly GatewayFormat[] = ['v1', 'v2', 'alb-multi'];

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
// Printable ASCII, no surrounding spaces (HTTP trims them) and no commas (2.0 joins lines with them).
const value = fc.stringMatching(/^[!-+\--~]([ !-+\--~]{0,20}[!-+\--~])?$/);
const lines = fc.array(
  fc.tuple(
    token.map((t) => `x-${t}`),
    value,
  ),
  { maxLength: 6 },
);
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const queryPairs = fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,4}$/), text), { maxLength: 5 });

/** A request as a Node server hands it over: enough of `IncomingMessage` for the gateway. */
function incoming(method: string, url: string, headerLines: Array<[string, string]>) {
  return {
    method,
    url,
    rawHeaders: headerLines.flat(),
    headers: Object.fromEntries(headerLines.map(([n, v]) => [n.toLowerCase(), v])),
  } as unknown as IncomingMessage;
}

describe('the event a gateway sends reads back as the request the client made', () => {
  for (const format of FORMATS) {
    it(`${format}: headers (repeated lines included), query pairs and body bytes`, () => {
      fc.assert(
        fc.property(
          lines,
          queryPairs,
          fc.uint8Array({ maxLength: 64 }),
          (headerLines, pairs, bytes) => {
            const raw = pairs.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&');
            const all: Array<[string, string]> = [
              ...headerLines,
              ['content-type', 'application/octet-stream'],
            ];
            const event = toEvent(format, incoming('POST', `/p?${raw}`, all), Buffer.from(bytes));
            expect(formatOf(event)).toBe(format === 'alb-multi' ? 'alb-multi' : format);
            const request = requestOf(event as LambdaHttpEvent, formatOf(event), undefined);
            const joiner = format === 'v2' ? ',' : ', ';
            for (const [name] of headerLines) {
              const sent = headerLines.filter(([n]) => n === name).map(([, v]) => v);
              expect(request.header(name.toUpperCase())).toBe(sent.join(joiner));
            }
            const decoded = (q: string) =>
              q === ''
                ? []
                : q
                    .split('&')
                    .map((p) => p.split('=').map(decodeURIComponent).join('='))
                    .sort();
            expect(decoded(request.query)).toEqual(decoded(raw));
            expect(Buffer.from(request.body(1 << 20) as Uint8Array)).toEqual(Buffer.from(bytes));
          },
        ),
        fcParameters(60),
      );
    });
  }
});

const FINAL = fc.constantFrom(200, 201, 202, 204, 400, 403, 404, 409, 422);

/** The handler's result in `format`: headers single and repeated as that format writes them. */
function resultOf(
  format: GatewayFormat,
  status: number,
  headerLines: Array<[string, string]>,
  cookies: string[],
  body: Uint8Array,
  base64: boolean,
) {
  const encoded = Buffer.from(body).toString(base64 ? 'base64' : 'utf8');
  const grouped: Record<string, string[]> = {};
  for (const [n, v] of headerLines) grouped[n] = [...(grouped[n] ?? []), v];
  if (format === 'v2') {
    return {
      statusCode: status,
      headers: Object.fromEntries(Object.entries(grouped).map(([n, v]) => [n, v.join(', ')])),
      cookies,
      body: encoded,
      isBase64Encoded: base64,
    };
  }
  const multiValueHeaders = { ...grouped, ...(cookies.length > 0 && { 'set-cookie': cookies }) };
  return { statusCode: status, multiValueHeaders, body: encoded, isBase64Encoded: base64 };
}

const withoutMarker = (wire: Wire): Wire => {
  const { 'idempotent-replayed': replayed, ...headers } = wire.headers;
  expect(replayed).toEqual(['true']);
  return { ...wire, headers };
};

describe("a replay reaches the client as the handler's result did", () => {
  for (const format of FORMATS) {
    it(`${format}: status, header lines in order, cookies and body bytes, text or base64`, async () => {
      const idem = idempotency({ store: memoryStore(), scope: () => 's', replaySetCookie: true });
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          FINAL,
          lines,
          fc.array(
            value.map((v) => `c=${v}`),
            { maxLength: 3 },
          ),
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            text.map((t) => new TextEncoder().encode(t)),
          ),
          fc.boolean(),
          async (status, headerLines, cookies, bytes, askBase64) => {
            const textOk = (() => {
              try {
                new TextDecoder('utf-8', { fatal: true }).decode(bytes);
                return true;
              } catch {
                return false;
              }
            })();
            // Bytes that are not UTF-8 can only travel base64.
            const sendBase64 = askBase64 || !textOk;
            const result = resultOf(format, status, headerLines, cookies, bytes, sendBase64);
            const handler = idem(async () => result);
            const event = toEvent(
              format,
              incoming('POST', '/r', [['Idempotency-Key', `k-${format}-${++n}`]]),
              Buffer.alloc(0),
            ) as LambdaHttpEvent;
            const first = wireOf(format, await handler(event, invocationContext()));
            const replay = await handler(structuredClone(event), invocationContext());
            expect(withoutMarker(wireOf(format, replay))).toEqual(first);
            expect((replay as { isBase64Encoded: boolean }).isBase64Encoded).toBe(sendBase64);
          },
        ),
        fcParameters(60),
      );
    });
  }
});
