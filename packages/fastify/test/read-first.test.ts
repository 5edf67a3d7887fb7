import { Readable } from 'node:stream';
import { memoryStore } from '@idem/store-memory';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { idempotency } from '../src/index.js';

/**
 * Bodies the app read before idem's preHandler hook: a content-type parser
 * always does, a verifier in `preValidation` reads what it produced, and a
 * `preParsing` hook registered before idem may read the payload itself and
 * hand a fresh stream on. idem fingerprints the bytes the parser was given,
 * with or without `Content-Length`, through `inject()` as Fastify tests send.
 */

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

type Raw = FastifyRequest & { rawBody?: Buffer };

async function build() {
  const app = Fastify();
  apps.push(app);
  let runs = 0;
  // A signature check on the raw bytes, in a preParsing hook that runs before idem's.
  app.addHook('preParsing', async (request: Raw, _reply, payload) => {
    if (request.url !== '/pre-parsing') return payload;
    const chunks: Buffer[] = [];
    for await (const chunk of payload) chunks.push(chunk as Buffer);
    request.rawBody = Buffer.concat(chunks);
    return Readable.from([request.rawBody]);
  });
  await app.register(idempotency, {
    store: memoryStore(),
    scope: () => 't',
    maxRequestBytes: 1000,
  });
  const answer = async (request: FastifyRequest) => ({ run: ++runs, body: request.body });
  // Fastify's own JSON parser.
  app.post('/json', answer);
  app.post('/pre-parsing', answer);
  // The webhook setup of docs/webhooks.md: raw bytes kept by the parser, verified in preValidation.
  await app.register(async (hooks) => {
    hooks.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_r, body, done) =>
      done(null, body),
    );
    hooks.post(
      '/pre-validation',
      {
        preValidation: async (request, reply) => {
          if ((request.body as Buffer).byteLength === 0) return reply.code(401).send();
        },
      },
      async (request) => ({ run: ++runs, body: JSON.parse(String(request.body)) }),
    );
  });
  return { app, runs: () => runs };
}

function send(app: FastifyInstance, path: string, key: string, body: string, declared: boolean) {
  return app.inject({
    method: 'POST',
    url: path,
    headers: { 'idempotency-key': key, 'content-type': 'application/json' },
    // A stream payload goes without Content-Length.
    payload: declared ? body : Readable.from([Buffer.from(body)]),
  });
}

describe('a body the app read before idem (Fastify keeps what its parser was given)', () => {
  for (const path of ['/json', '/pre-parsing', '/pre-validation']) {
    for (const declared of [false, true]) {
      const way = declared ? 'with Content-Length' : 'chunked (no Content-Length)';
      it(`${path}, ${way}: the retry replays, another body gets 422`, async () => {
        const { app, runs } = await build();
        const first = await send(app, path, 'k', '{"id":"evt_1","amount":5}', declared);
        expect(first.statusCode, first.body).toBe(200);
        expect(first.json()).toEqual({ run: 1, body: { id: 'evt_1', amount: 5 } });
        for (const retry of [
          await send(app, path, 'k', '{"id":"evt_1","amount":5}', !declared),
          await send(app, path, 'k', '{ "amount": 5, "id": "evt_1" }', declared),
        ]) {
          expect(retry.headers['idempotent-replayed']).toBe('true');
          expect(retry.body).toBe(first.body);
        }
        expect((await send(app, path, 'k', '{"id":"evt_1","amount":6}', declared)).statusCode).toBe(
          422,
        );
        const over = await send(app, path, 'k2', `{"pad":"${'a'.repeat(1000)}"}`, declared);
        expect(over.statusCode).toBe(413);
        expect(runs()).toBe(1);
      });
    }
  }
});
