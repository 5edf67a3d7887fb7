/**
 * The retry storm: every key sent by several clients at once, over many
 * keep-alive connections, against a handler that takes a while (a payment
 * provider call). The server counts how often the handler ran per key.
 */
import http from 'node:http';
import { PAYMENT_BODY } from './config.js';

export interface StormOptions {
  readonly port: number;
  readonly keys: number;
  readonly sendsPerKey: number;
  readonly connections: number;
  /** How long the handler takes per execution. */
  readonly delayMs: number;
  readonly keyPrefix: string;
  /** @default '/payments' */
  readonly path?: string;
}

export interface StormResult {
  readonly keys: number;
  readonly sendsPerKey: number;
  readonly connections: number;
  readonly delayMs: number;
  readonly requests: number;
  /** Responses by status code (`error` for a failed request). */
  readonly statuses: Record<string, number>;
  /** Handler executions over all keys. */
  readonly executions: number;
  readonly keysOnce: number;
  /** Keys whose handler ran more than once. */
  readonly keysMoreThanOnce: number;
  /** Keys whose handler never ran. */
  readonly keysNever: number;
  readonly maxPerKey: number;
  readonly exactlyOnce: boolean;
  readonly seconds: number;
}

const stormBody = (delayMs: number) => `${PAYMENT_BODY.slice(0, -1)},"delayMs":${delayMs}}`;

function post(
  agent: http.Agent,
  port: number,
  path: string,
  key: string,
  body: string,
): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'idempotency-key': key,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(-1));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(-1));
    req.end(body);
  });
}

export async function runStorm(options: StormOptions): Promise<StormResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const body = stormBody(options.delayMs);
  const keys = Array.from({ length: options.keys }, (_, i) => `${options.keyPrefix}-${i}`);
  const started = performance.now();
  // All sends of a key queue back to back, so they leave on different connections together.
  const sends: Promise<number>[] = [];
  for (const key of keys) {
    for (let s = 0; s < options.sendsPerKey; s++)
      sends.push(post(agent, options.port, options.path ?? '/payments', key, body));
  }
  const codes = await Promise.all(sends);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  // Let any handler still running (a peer that answered before it finished) end.
  await new Promise((r) => setTimeout(r, options.delayMs * 2 + 50));

  const statuses: Record<string, number> = {};
  for (const code of codes) {
    const label = code < 0 ? 'error' : String(code);
    statuses[label] = (statuses[label] ?? 0) + 1;
  }
  const counts = (await (await fetch(`http://127.0.0.1:${options.port}/counts`)).json()) as Record<
    string,
    number
  >;
  let executions = 0;
  let keysOnce = 0;
  let keysMoreThanOnce = 0;
  let keysNever = 0;
  let maxPerKey = 0;
  for (const key of keys) {
    const n = counts[key] ?? 0;
    executions += n;
    maxPerKey = Math.max(maxPerKey, n);
    if (n === 0) keysNever++;
    else if (n === 1) keysOnce++;
    else keysMoreThanOnce++;
  }
  return {
    keys: options.keys,
    sendsPerKey: options.sendsPerKey,
    connections: options.connections,
    delayMs: options.delayMs,
    requests: codes.length,
    statuses,
    executions,
    keysOnce,
    keysMoreThanOnce,
    keysNever,
    maxPerKey,
    exactlyOnce: keysOnce === options.keys,
    seconds,
  };
}
