import fc from 'fast-check';
import { fcParameters } from '../../fc.js';
import { sendBytes, sendRaw } from '../client.js';
import { expectFresh, expectProblem, expectReplay } from '../expect.js';
import { type CheckSpec, check } from '../harness.js';

const JSON_BODY = '{"amount":100}';
const json = { body: JSON_BODY, contentType: 'application/json' } as const;

/** A key as an RFC 8941 sf-string. */
export function quoted(key: string): string {
  return `"${key.replace(/[\\"]/g, '\\$&')}"`;
}

/** Pass-through methods, and the `methods` / `required` options. */
export const methodChecks: readonly CheckSpec[] = [
  {
    group: 'methods',
    name: 'methods idem does not cover pass through untouched, with or without a key',
    async body(h) {
      const t = await h.start();
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const key = h.key();
        for (const init of [{}, { key }, { key }, { key: '' }]) {
          const r = await t.send('/echo', { method, ...init, ...(method === 'GET' ? {} : json) });
          check(
            r.status === 200,
            `${method} with key ${JSON.stringify(init)}: expected the handler's 200, got ${r.status}`,
          );
          expectFresh(r, `${method} /echo`);
        }
      }
      check(
        t.runs('echo') === 12,
        `uncovered requests must each run once: expected 12 runs, got ${t.runs('echo')}`,
      );
    },
  },
  {
    group: 'methods',
    name: 'the methods option decides which methods are covered',
    async body(h) {
      const t = await h.start({ methods: ['PUT', 'POST'] });
      expectProblem(
        await t.send('/echo', { method: 'PUT', ...json }),
        'key-missing',
        400,
        'PUT when covered, without a key',
      );
      const patch = await t.send('/echo', { method: 'PATCH', ...json });
      check(patch.status === 200, `PATCH when not covered must pass through, got ${patch.status}`);
      check(t.runs('echo') === 1, `only the uncovered PATCH may run, got ${t.runs('echo')} runs`);
    },
  },
  {
    group: 'keys',
    name: 'a covered request without a key gets 400 key-missing and runs nothing',
    async body(h) {
      const t = await h.start();
      for (const method of ['POST', 'PATCH']) {
        expectProblem(
          await t.send('/echo', { method, ...json }),
          'key-missing',
          400,
          `${method} without a key`,
        );
      }
      check(
        t.runs('echo') === 0,
        `a request without a key must not run, got ${t.runs('echo')} runs`,
      );
    },
  },
  {
    group: 'keys',
    name: 'required: false runs requests without a key, unprotected',
    async body(h) {
      const t = await h.start({ required: false });
      for (let i = 1; i <= 2; i++) {
        const r = await t.send('/echo', json);
        check(
          r.status === 200,
          `keyless request ${i} with required: false: expected 200, got ${r.status}`,
        );
        expectFresh(r, `keyless request ${i}`);
      }
      check(t.runs('echo') === 2, `both keyless requests must run, got ${t.runs('echo')} runs`);
    },
  },
];

/** Which keys are refused, and that every valid key works in both of its forms. */
export const keyChecks: readonly CheckSpec[] = [
  {
    group: 'keys',
    name: 'malformed keys get 400 key-invalid and store nothing',
    async body(h) {
      const t = await h.start();
      const base = h.key();
      const viaFetch = [
        '',
        'x'.repeat(256),
        'a b',
        `${base},other`,
        `"${base}`,
        `"${base}"x`,
        '"a\\x"',
      ];
      for (const key of viaFetch) {
        expectProblem(
          await t.send('/echo', { key, ...json }),
          'key-invalid',
          400,
          `key ${JSON.stringify(key)}`,
        );
      }
      const viaNode: Array<[string, string | string[]]> = [
        ['a Latin-1 byte (é)', `caf\u00e9`],
        ['UTF-8 bytes (é)', Buffer.from('café').toString('latin1')],
        ['a tab inside', 'a\tb'],
        ['two header lines', [base, `${base}-2`]],
        ['the same key on two lines', [base, base]],
        ['the same quoted key on two lines', [quoted(base), quoted(base)]],
        ['a key and an empty line', [base, '']],
      ];
      for (const [what, value] of viaNode) {
        const r = await sendRaw(t.url, '/echo', {
          headers: { 'content-type': 'application/json', 'idempotency-key': value },
          body: JSON_BODY,
        });
        expectProblem(r, 'key-invalid', 400, `a key with ${what}`);
      }
      check(
        t.runs('echo') === 0,
        `a refused key must not run the handler, got ${t.runs('echo')} runs`,
      );
      // Nothing was stored under the key the refused requests carried.
      const valid = await t.send('/echo', { key: base, ...json });
      check(
        valid.status === 200,
        `the same key sent once, properly, must run: got ${valid.status}`,
      );
      expectFresh(valid, 'the key sent properly after refused attempts');
    },
  },
  {
    group: 'keys',
    name: 'control characters in a key never reach the handler',
    async body(h) {
      const t = await h.start();
      // A server may be mounted under a path (one Next.js app serves every test server).
      const { host, pathname } = new URL(t.url);
      for (const ctl of ['\x01', '\x1f', '\x7f']) {
        const r = await sendBytes(
          t.url,
          `POST ${pathname.replace(/\/$/, '')}/echo HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nIdempotency-Key: a${ctl}b`,
          JSON_BODY,
        );
        // Node's HTTP parser refuses most control characters itself (a bare
        // 400); when the app sees them, idem must answer with its problem.
        check(
          r.status === 400,
          `a key holding ${JSON.stringify(ctl)} must be refused with 400, got ${r.status}`,
        );
        if (/problem\+json/.test(r.header('content-type') ?? '')) {
          expectProblem(r, 'key-invalid', 400, `a key holding ${JSON.stringify(ctl)}`);
        }
      }
      check(
        t.runs('echo') === 0,
        `a key with control characters must not run, got ${t.runs('echo')} runs`,
      );
    },
  },
  {
    group: 'keys',
    name: 'every key of 1 to 255 printable ASCII characters works; quoted and bare are one key',
    async body(h, runs) {
      const t = await h.start();
      const printable = fc
        .array(fc.integer({ min: 0x20, max: 0x7e }), { minLength: 1, maxLength: 255 })
        .map((codes) => String.fromCharCode(...codes));
      let expected = 0;
      await fc.assert(
        fc.asyncProperty(printable, async (key) => {
          // A fresh scope per run keeps runs apart without touching the key.
          const headers = { 'x-tenant': h.key() };
          const bare = !/[ ,]/.test(key) && !key.startsWith('"');
          const first = await t.send('/echo', { key: bare ? key : quoted(key), headers, ...json });
          expected++;
          check(
            first.status === 200,
            `key ${JSON.stringify(key)}: expected 200, got ${first.status} ${first.text()}`,
          );
          expectFresh(first, `key ${JSON.stringify(key)}`);
          expectReplay(
            await t.send('/echo', { key: quoted(key), headers, ...json }),
            first,
            `key ${JSON.stringify(key)} quoted`,
          );
          if (bare) {
            expectReplay(
              await t.send('/echo', { key, headers, ...json }),
              first,
              `key ${JSON.stringify(key)} bare`,
            );
          }
          check(
            t.runs('echo') === expected,
            `key ${JSON.stringify(key)} ran ${t.runs('echo') - expected + 1} times`,
          );
        }),
        { ...fcParameters(runs), examples: [['x'.repeat(255)], ['"'], ['a\\b'], ['a b,c']] },
      );
    },
  },
];
