import { reachServer } from '@idem/conformance';
import { Redis, type RedisOptions } from 'ioredis';

/** The Redis the tests run against. */
export const url: string = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The client options the README recommends. */
export const recommended: RedisOptions = { maxRetriesPerRequest: 1, commandTimeout: 2_000 };

/** Whether Redis answers: skips loudly locally, throws with CI=true. */
export async function redisUp(): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  let cause: Error | undefined; // ioredis rejects with "Connection is closed."; say why
  probe.on('error', (error: Error) => {
    cause = error;
  });
  try {
    return await reachServer('Redis', url, () =>
      probe.connect().catch((error: unknown) => {
        throw cause ?? error;
      }),
    );
  } finally {
    probe.disconnect();
  }
}

/** A connected client; connection errors are expected in these tests, so they are not logged. */
export async function connect(options: RedisOptions = recommended): Promise<Redis> {
  const client = new Redis(url, { ...options, lazyConnect: true });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** A prefix no other run uses, so tests can share one Redis. */
export const freshPrefix = (what: string): string =>
  `idem-test:${what}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `condition` holds, polling. */
export async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Records, through MONITOR on a connection of its own, every command one client
 * sends to Redis. Commands that scripts run inside Redis are not round trips
 * and do not show (MONITOR reports them with the source `lua`).
 */
export interface CommandLog {
  /** The commands `client` sent while `action` ran, in order, as MONITOR shows them. */
  during(action: () => Promise<unknown>): Promise<string[][]>;
  close(): void;
}

export async function commandLog(client: Redis, admin: Redis): Promise<CommandLog> {
  const info = await client.client('INFO');
  const addr = /\baddr=(\S+)/.exec(String(info))?.[1];
  if (!addr) throw new Error(`no addr in CLIENT INFO: ${info}`);
  const monitor = await new Redis(url, { lazyConnect: true }).monitor();
  const events: Array<{ args: string[]; source: string }> = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    events.push({ args, source });
  });
  const marker = async () => {
    const text = `idem-marker-${Math.random().toString(36).slice(2)}`;
    await admin.echo(text);
    await until(
      async () => events.some((e) => e.args[0]?.toLowerCase() === 'echo' && e.args[1] === text),
      `MONITOR to report ${text}`,
    );
    return events.findIndex((e) => e.args[1] === text);
  };
  return {
    async during(action) {
      const start = await marker();
      await action();
      const end = await marker();
      return events
        .slice(start + 1, end)
        .filter((e) => e.source === addr)
        .map((e) => e.args);
    },
    close: () => monitor.disconnect(),
  };
}
