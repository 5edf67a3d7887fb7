/**
 * The fallback load generator when wrk is not installed: autocannon in a
 * process of its own (so it can be pinned to a core), printing the same
 * BENCH_JSON line as the wrk script.
 */
import autocannon from 'autocannon';

interface Options {
  url: string;
  seconds: number;
  connections: number;
  keys: 'fresh' | 'fixed';
  key: string;
  body: string;
}

const options = JSON.parse(process.argv[2] ?? '') as Options;
let counter = 0;
const headers = { 'content-type': 'application/json', 'idempotency-key': options.key };

const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.seconds,
  method: 'POST',
  body: options.body,
  headers,
  requests: [
    {
      setupRequest(request: { headers?: Record<string, string> }) {
        if (options.keys === 'fixed') return request;
        counter++;
        return {
          ...request,
          headers: { ...request.headers, 'idempotency-key': `${options.key}-1-${counter}` },
        };
      },
    },
  ],
});

const errors = result.errors + result.timeouts;
process.stdout.write(
  `BENCH_JSON ${JSON.stringify({
    requests: result.requests.total,
    duration_us: Math.round(result.duration * 1e6),
    p50_us: Math.round(result.latency.p50 * 1000),
    p99_us: Math.round(result.latency.p99 * 1000),
    status: result.non2xx,
    errors,
  })}\n`,
);
