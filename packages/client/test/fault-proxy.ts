import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy that breaks HTTP exchanges the way real networks do, for the
 * client's end-to-end tests. It does not parse HTTP: an exchange starts with
 * the first bytes the client sends after the server last spoke (one request
 * at a time per connection, as fetch sends them), and ends when the client
 * speaks again.
 */

/** What happens to one exchange. */
export interface Fault {
  /** Hold the request this long before passing it on. */
  readonly delayRequestMs?: number;
  /** Hold the response this long before passing it on. */
  readonly delayResponseMs?: number;
  /**
   * `drop`: the server answers, and the connection to the client is closed
   * before a byte of the answer reaches it. `reset`: part of the answer
   * reaches the client, then the connection is reset (TCP RST).
   */
  readonly response?: 'drop' | 'reset';
  /**
   * Mark the answer `Connection: close`, so the client opens a new connection
   * for its next request. (A browser resends a request by itself when a
   * reused keep-alive connection closes before any answer; on a new
   * connection the failure reaches the page.)
   */
  readonly closeConnection?: boolean;
}

/** Decides the fault of each exchange from the start of its request (e.g. `POST /payments HTTP/1.1`). */
export type Decide = (requestHead: string) => Fault;

/** What the proxy did. */
export interface FaultStats {
  exchanges: number;
  dropped: number;
  reset: number;
  delayed: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: send requests here instead of to the server. */
  readonly url: string;
  readonly stats: FaultStats;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a proxy on a free loopback port in front of `target` (`http://host:port`).
 *
 * @param random A number in [0, 1), for where a reset cuts the answer.
 */
export async function faultProxy(
  target: string,
  decide: Decide,
  random: () => number = Math.random,
): Promise<FaultProxy> {
  const { hostname, port } = new URL(target);
  const stats: FaultStats = { exchanges: 0, dropped: 0, reset: 0, delayed: 0 };
  const sockets = new Set<Socket>();

  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {}); // a reset is what this proxy is for
    }
    let fault: Fault = {};
    let serverSpoke = true; // so the first bytes from the client start an exchange
    let firstOfRequest = false;
    let firstOfResponse = false;
    let held: Buffer[] | undefined; // a response being cut by a reset
    // Writes in each direction go through a chain, so a delay never reorders bytes.
    let toServer = Promise.resolve();
    let toClient = Promise.resolve();

    client.on('data', (chunk: Buffer) => {
      if (serverSpoke) {
        serverSpoke = false;
        firstOfRequest = true;
        fault = decide(chunk.toString('latin1', 0, 200));
        stats.exchanges++;
        if (fault.delayRequestMs || fault.delayResponseMs) stats.delayed++;
      }
      const delay = firstOfRequest ? (fault.delayRequestMs ?? 0) : 0;
      firstOfRequest = false;
      toServer = toServer.then(async () => {
        if (delay) await sleep(delay);
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });

    upstream.on('data', (chunk: Buffer) => {
      if (!serverSpoke) {
        serverSpoke = true;
        firstOfResponse = true;
      }
      if (fault.response === 'drop') {
        stats.dropped++;
        fault = {};
        client.destroy();
        upstream.destroy();
        return;
      }
      if (fault.response === 'reset') {
        if (held) {
          held.push(chunk);
          return;
        }
        // Gather what the server sends in the next moment, then cut it anywhere.
        held = [chunk];
        setTimeout(() => {
          const answer = Buffer.concat(held!);
          const cut = 1 + Math.floor(random() * Math.max(1, answer.length - 1));
          stats.reset++;
          client.write(answer.subarray(0, cut), () => client.resetAndDestroy());
          upstream.destroy();
        }, 15);
        return;
      }
      if (firstOfResponse && fault.closeConnection) chunk = connectionClose(chunk);
      const delay = firstOfResponse ? (fault.delayResponseMs ?? 0) : 0;
      firstOfResponse = false;
      toClient = toClient.then(async () => {
        if (delay) await sleep(delay);
        if (!client.destroyed) client.write(chunk);
      });
    });

    // A client that goes away takes its upstream connection with it, as
    // reverse proxies do; a server that closes is passed on once its bytes are.
    client.on('close', () => upstream.destroy());
    upstream.on('end', () => toClient.then(() => client.end()));
    upstream.on('close', () => toClient.then(() => client.destroy()));
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** The start of an answer with its `Connection` header set to `close`. */
function connectionClose(chunk: Buffer): Buffer {
  const text = chunk.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return chunk; // not the whole head: leave it alone
  const head = text.slice(0, end).replace(/\r\nconnection:[^\r]*/i, '');
  const statusLine = head.indexOf('\r\n');
  const patched = `${head.slice(0, statusLine)}\r\nConnection: close${head.slice(statusLine)}`;
  return Buffer.concat([Buffer.from(patched, 'latin1'), chunk.subarray(end)]);
}

/** The odds of each fault, for {@link randomFaults}. */
export interface FaultOdds {
  readonly drop: number;
  readonly reset: number;
  /** Chance of a delay on the request, and (independently) on the response. */
  readonly delay: number;
  readonly maxDelayMs: number;
}

/** A {@link Decide} that faults exchanges at random with these odds. */
export function randomFaults(odds: FaultOdds, random: () => number): Decide {
  return () => {
    const roll = random();
    const delay = () =>
      random() < odds.delay ? Math.floor(random() * odds.maxDelayMs) : undefined;
    const delayRequestMs = delay();
    const delayResponseMs = delay();
    return {
      ...(delayRequestMs !== undefined && { delayRequestMs }),
      ...(delayResponseMs !== undefined && { delayResponseMs }),
      ...(roll < odds.drop
        ? { response: 'drop' as const }
        : roll < odds.drop + odds.reset
          ? { response: 'reset' as const }
          : {}),
    };
  };
}

/** A seeded PRNG (mulberry32), so a failing run can be replayed from its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
