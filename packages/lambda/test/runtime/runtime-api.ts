import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * One execution environment's Lambda Runtime API, served from the test
 * process: the documented HTTP interface a runtime interface client polls
 * (`GET /2018-06-01/runtime/invocation/next`) and answers on
 * (`POST .../invocation/{id}/response`, `.../error`, `/runtime/init/error`).
 * As on Lambda, each environment has its own endpoint and runs one
 * invocation at a time.
 */

/** How the harness saw an invocation end, as Lambda would report it to the caller. */
export type InvocationResult =
  /** The runtime posted a response: its payload parsed as JSON (the text when it is not JSON). */
  | { readonly kind: 'response'; readonly payload: unknown }
  /** The runtime posted an error (a handler that threw or rejected). */
  | { readonly kind: 'error'; readonly errorType: string; readonly errorMessage: string }
  /** The deadline passed first: the harness stopped the environment, as Lambda does. */
  | { readonly kind: 'timeout' }
  /** The runtime process exited mid-invocation (Lambda's `Runtime.ExitError`), or was killed. */
  | { readonly kind: 'exit'; readonly code: number | null; readonly signal: string | null };

/** One delivery of an event to the environment. */
export interface Invocation {
  readonly requestId: string;
  readonly event: unknown;
  /** Epoch ms at which Lambda would stop the invocation (`Lambda-Runtime-Deadline-Ms`). */
  readonly deadlineMs: number;
}

interface Pending {
  readonly invocation: Invocation;
  readonly timeoutMs: number;
  readonly settle: (result: InvocationResult) => void;
}

const PREFIX = '/2018-06-01/runtime';

/** Reads a request body whole. */
function bodyOf(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** The Runtime API of one environment. */
export class RuntimeApi {
  readonly functionArn: string;
  /** Errors the runtime reported while initialising (bad handler, module that throws). */
  readonly initErrors: unknown[] = [];
  #server: Server;
  #queue: Pending[] = [];
  #poll: ServerResponse | undefined;
  #current: Pending | undefined;

  private constructor(server: Server, functionArn: string) {
    this.#server = server;
    this.functionArn = functionArn;
    server.on('request', (request, response) => {
      this.#route(request, response).catch((error: unknown) => reply(response, 500, String(error)));
    });
  }

  /** Serve a Runtime API on an ephemeral loopback port. */
  static async start(functionName: string): Promise<RuntimeApi> {
    const server = createServer({ keepAlive: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new RuntimeApi(server, `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`);
  }

  /** `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`. */
  get address(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `127.0.0.1:${port}`;
  }

  /** The invocation the runtime is working on, if any. */
  get current(): Invocation | undefined {
    return this.#current?.invocation;
  }

  /** Queue a delivery; it settles when the runtime answers it or {@link abandon} ends it. */
  invoke(event: unknown, timeoutMs: number): Promise<InvocationResult> {
    // deadlineMs is set when the runtime receives the event: the timeout runs from then.
    const invocation: Invocation = { requestId: randomUUID(), event, deadlineMs: 0 };
    const result = new Promise<InvocationResult>((settle) => {
      this.#queue.push({ invocation, timeoutMs, settle });
    });
    this.#dispatch();
    return result;
  }

  /** End the current invocation without the runtime's answer (a timeout or a dead process). */
  abandon(result: InvocationResult): Invocation | undefined {
    const pending = this.#current;
    this.#current = undefined;
    pending?.settle(result);
    return pending?.invocation;
  }

  async close(): Promise<void> {
    this.#poll?.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #dispatch(): void {
    if (!this.#poll || this.#current || this.#queue.length === 0) return;
    const pending = this.#queue.shift()!;
    const poll = this.#poll;
    this.#poll = undefined;
    this.#current = pending;
    const { invocation } = pending;
    // The deadline runs from the moment the runtime gets the event, as on Lambda.
    (invocation as { deadlineMs: number }).deadlineMs = Date.now() + pending.timeoutMs;
    poll.writeHead(200, {
      'content-type': 'application/json',
      'lambda-runtime-aws-request-id': invocation.requestId,
      'lambda-runtime-deadline-ms': String(invocation.deadlineMs),
      'lambda-runtime-invoked-function-arn': this.functionArn,
      'lambda-runtime-trace-id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Parent=${randomUUID().replace(/-/g, '').slice(0, 16)};Sampled=0`,
    });
    poll.end(JSON.stringify(invocation.event));
    this.onDispatch?.(invocation);
  }

  /** Called when the runtime receives an invocation (the environment arms its deadline here). */
  onDispatch: ((invocation: Invocation) => void) | undefined;

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = request.url ?? '';
    if (request.method === 'GET' && url === `${PREFIX}/invocation/next`) {
      this.#poll = response;
      response.on('close', () => {
        if (this.#poll === response) this.#poll = undefined;
      });
      this.#dispatch();
      return;
    }
    const text = await bodyOf(request);
    if (request.method === 'POST' && url === `${PREFIX}/init/error`) {
      this.initErrors.push(parsed(text));
      reply(response, 202, { status: 'OK' });
      return;
    }
    const match = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    if (request.method !== 'POST' || !match) {
      reply(response, 404, { errorType: 'NotFound', errorMessage: `${request.method} ${url}` });
      return;
    }
    const pending = this.#current;
    if (pending?.invocation.requestId !== decodeURIComponent(match[1]!)) {
      // Too late (timed out) or never sent: what Lambda answers a stale request id.
      reply(response, 400, { errorType: 'InvalidRequestID', errorMessage: 'Invalid request ID' });
      return;
    }
    this.#current = undefined;
    if (match[2] === 'response') {
      pending.settle({ kind: 'response', payload: parsed(text) });
    } else {
      const error = parsed(text) as { errorType?: string; errorMessage?: string } | string;
      pending.settle({
        kind: 'error',
        errorType:
          typeof error === 'object'
            ? String(error.errorType ?? request.headers['lambda-runtime-function-error-type'])
            : 'Unknown',
        errorMessage: typeof error === 'object' ? String(error.errorMessage) : error,
      });
    }
    reply(response, 202, { status: 'OK' });
  }
}
