import type { Reply } from '../client.js';
import { expectProblem, type ProblemKind } from '../expect.js';
import { type CheckSpec, check, within } from '../harness.js';
import { brokenStore } from './conflicts.js';

/** Every problem at once: one shape, one `type` per kind, nothing echoed. */
export const problemChecks: readonly CheckSpec[] = [
  {
    group: 'problems',
    name: 'every kind of problem has its own type and never echoes a stored response',
    async body(h) {
      const secret = `secret-${h.key()}`;
      const body = JSON.stringify({ secret });
      const json = { body, contentType: 'application/json' } as const;
      const t = await h.start({ maxResponseBytes: 200 });
      const problems: Array<[ProblemKind, number, Reply]> = [];

      problems.push(['key-missing', 400, await t.send('/echo', json)]);
      problems.push(['key-invalid', 400, await t.send('/echo', { key: 'x'.repeat(256), ...json })]);

      const stored = h.key();
      const first = await t.send('/echo', { key: stored, ...json });
      check(first.text().includes(secret), 'the echoed body must hold the marker');
      problems.push([
        'fingerprint-mismatch',
        422,
        await t.send('/echo', { key: stored, body: '{}', contentType: 'application/json' }),
      ]);

      const gate = t.hold('echo');
      const running = h.key();
      const inFlight = t.send('/echo', { key: running, ...json });
      await within(gate.entered, 5_000, 'the first request never reached the handler');
      problems.push(['request-in-flight', 409, await t.send('/echo', { key: running, ...json })]);
      gate.open();
      await inFlight;

      const big = h.key();
      await t.send('/bytes?size=500', { key: big });
      problems.push(['response-not-stored', 410, await t.send('/bytes?size=500', { key: big })]);

      const down = await h.start({ store: brokenStore(), logger: false });
      problems.push([
        'store-unavailable',
        503,
        await down.send('/echo', { key: h.key(), ...json }),
      ]);

      const types = new Set<unknown>();
      for (const [kind, status, reply] of problems) {
        types.add(expectProblem(reply, kind, status, kind).type);
        check(
          !reply.text().includes(secret),
          `the ${kind} problem echoes the stored request or response`,
        );
      }
      check(
        types.size === problems.length,
        `each kind needs its own type, got ${[...types].join(', ')}`,
      );
    },
  },
];
