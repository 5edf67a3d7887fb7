import { createServer, type Socket } from 'node:net';
import { createIdempotency, isIdempotencyError } from '@idem/core';
import { scopedKey } from '@idem/core/store';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../src/index.js';
import { connect, connectAs, freshPrefix, LIBRARIES, redisUp } from './helpers.js';
import { type PrivateRedis, privateRedis } from './private-redis.js';

const up = await redisUp();
const claim = { fingerprint: 'fp', token: 'tok', leaseMs: 30_000 };

/** One RESP command (an array of bulk strings) at the start of `data`, if it is all there. */
function parseCommand(data: Buffer): { args: string[]; length: number } | undefined {
  const line = (from: number) => {
    const end = data.indexOf('\r\n', from);
    return end < 0 ? undefined : { text: data.toString('latin1', from + 1, end), next: end + 2 };
  };
  const head = line(0);
  if (!head) return undefined;
  const args: string[] = [];
  let at = head.next;
  for (let i = 0; i < Number(head.text); i++) {
    const size = line(at);
    if (!size || data.length < size.next + Number(size.text) + 2) return undefined;
    args.push(data.toString('latin1', size.next, size.next + Number(size.text)));
    at = size.next + Number(size.text) + 2;
  }
  return { args, length: at };
}

/** What `action` rejected with; fails when it resolved. */
async function rejection(action: Promise<unknown>): Promise<Error> {
  return action.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

describe.skipIf(!up).each(LIBRARIES)(
  'a Redis set up wrong, through %s: a ConfigurationError that names the fix',
  (library) => {
    let redis: PrivateRedis;
    let admin: Redis;
    beforeAll(async () => {
      redis = await privateRedis(); // ACL users of our own, never on the shared Redis
      admin = await connect(undefined, redis.url);
    });
    afterAll(async () => {
      admin?.disconnect();
      await redis?.stop();
    });

    it('a Redis user without the commands the store needs (NOPERM)', async () => {
      const user = `idem-${library}`;
      // INFO for ioredis' ready check, which warns on the console without it.
      await admin.acl(
        'SETUSER',
        user,
        'on',
        '>secret',
        '~*',
        '+get',
        '+set',
        '+info',
        '-evalsha',
        '-eval',
      );
      const url = new URL(redis.url);
      url.username = user;
      url.password = 'secret';
      const tc = await connectAs(library, { url: url.toString() });
      try {
        const store = redisStore({ client: tc.client, prefix: 'idem:' });
        const key = await scopedKey('t', 'noperm');
        expect((await store.claim(key, claim)).claimed).toBe(true);
        const error = await rejection(store.release(key, 'tok'));
        expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
        expect(error.message).toMatch(/may not run a command the store needs.*ACL SETUSER/);
        expect(String(error.cause)).toMatch(/NOPERM/);
        // Through the engine: 503 for the client, and the fix in the log, once.
        const logged: string[] = [];
        const idem = createIdempotency({
          store,
          logger: {
            warn: (...args: unknown[]) => logged.push(args.join(' ')),
            error: (...args: unknown[]) => logged.push(args.join(' ')),
          },
        });
        await admin.acl('SETUSER', user, '-set');
        await expect(idem.run('pay-1', () => 1)).rejects.toMatchObject({
          code: 'STORE_UNAVAILABLE',
        });
        expect(logged.join('\n')).toMatch(/not set up[\s\S]*ACL SETUSER/);
      } finally {
        tc.close();
      }
    });

    it('a key under the prefix that holds another kind of value (WRONGTYPE), or a string idem did not write', async () => {
      const tc = await connectAs(library, { url: redis.url });
      try {
        const prefix = freshPrefix('foreign');
        const store = redisStore({ client: tc.client, prefix });
        const [hash, text] = [await scopedKey('t', 'hash'), await scopedKey('t', 'text')];
        await admin.hset(prefix + hash, 'field', 'value');
        await admin.set(prefix + text, 'hello');
        for (const key of [hash, text]) {
          const error = await rejection(store.claim(key, claim));
          expect(isIdempotencyError(error, 'CONFIGURATION'), String(error)).toBe(true);
          expect(error.message).toMatch(/give idem a prefix of its own/);
        }
      } finally {
        tc.close();
      }
    });
  },
);

describe('a Redis older than 7.0', () => {
  // No Redis 6 runs here: a server that answers as Redis 6.2 does to the one
  // command that needs 7.0 (SET with NX and GET), and OK to everything else.
  let sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    let buffered = Buffer.alloc(0);
    socket.on('data', (data) => {
      buffered = Buffer.concat([buffered, data]);
      for (let command = parseCommand(buffered); command; command = parseCommand(buffered)) {
        buffered = buffered.subarray(command.length);
        const words = command.args.map((a) => a.toUpperCase());
        const refused = words[0] === 'SET' && words.includes('NX') && words.includes('GET');
        socket.write(refused ? '-ERR syntax error\r\n' : '+OK\r\n');
      }
    });
  });
  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  afterAll(() => {
    for (const s of sockets) s.destroy();
    sockets = [];
    return new Promise((resolve) => server.close(resolve));
  });

  it('refuses the claim with a ConfigurationError that asks for Redis 7.0', async () => {
    const { port } = server.address() as { port: number };
    const client = new Redis({
      port,
      host: '127.0.0.1',
      enableReadyCheck: false,
      maxRetriesPerRequest: 1,
    });
    client.on('error', () => {});
    try {
      const error = await rejection(
        redisStore({ client }).claim(await scopedKey('t', 'old'), claim),
      );
      expect(isIdempotencyError(error, 'CONFIGURATION')).toBe(true);
      expect(error.message).toMatch(/needs Redis 7\.0 or newer/);
    } finally {
      client.disconnect();
    }
  });
});
