/**
 * A Worker that pays through `@idem/client`: it forwards the body of its own
 * request (a one-shot stream) to the payments API at `env.UPSTREAM`, and
 * answers with what the client saw. Bundled for workerd by workerd.test.ts.
 */
import { createIdempotentFetch, idempotencyInfo, type RetryEvent } from '../../src/index.js';

interface Env {
  readonly UPSTREAM: string;
  readonly ATTEMPT_TIMEOUT_MS: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const retries: { attempt: number; key: string; status?: number; error?: string }[] = [];
    const fetch = createIdempotentFetch({
      baseDelayMs: 10,
      attemptTimeoutMs: Number(env.ATTEMPT_TIMEOUT_MS),
      onRetry: (e: RetryEvent) =>
        retries.push({
          attempt: e.attempt,
          key: e.key,
          ...(e.status !== undefined && { status: e.status }),
          ...(e.error !== undefined && { error: String(e.error) }),
        }),
    });
    const response = await fetch(`${env.UPSTREAM}/payments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-merchant': 'acme' },
      body: request.body,
    });
    return Response.json({
      status: response.status,
      body: await response.json(),
      info: idempotencyInfo(response),
      retries,
    });
  },
};
