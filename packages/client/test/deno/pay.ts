/**
 * Run by deno.test.ts inside Deno, bundled: one payment through the client to
 * the URL in the first argument, with a one-shot stream body; prints what the
 * client saw as JSON.
 */
import { createIdempotentFetch, idempotencyInfo } from '../../src/index.js';

declare const Deno: { args: string[] };

const fetch = createIdempotentFetch({ baseDelayMs: 1 });
const body = new ReadableStream<Uint8Array>({
  start(controller) {
    controller.enqueue(new TextEncoder().encode('{"amount":'));
    controller.enqueue(new TextEncoder().encode('1999}'));
    controller.close();
  },
});
const response = await fetch(Deno.args[0]!, {
  method: 'POST',
  body,
  duplex: 'half',
} as RequestInit);
console.log(
  JSON.stringify({
    status: response.status,
    text: await response.text(),
    info: idempotencyInfo(response),
  }),
);
