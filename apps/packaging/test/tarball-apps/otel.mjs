// @idem/otel's README, queue-consumer form: the engine with idemTelemetry()
// hooks, spans recorded by the OpenTelemetry SDK's in-memory exporter.
import { createIdempotency } from '@idem/core';
import { idemTelemetry } from '@idem/otel';
import { memoryStore } from '@idem/store-memory';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const idem = createIdempotency({ store: memoryStore(), hooks: idemTelemetry({ tracerProvider }) });

let invoices = 0;
const sendInvoice = async (body) => ({ invoiceId: `inv_${++invoices}`, orderId: body.orderId });
const message = { id: 'msg-7', body: { orderId: 'order-7' } };
const kinds = [];
for (let i = 0; i < 2; i++) {
  const { kind } = await idem.run(message.id, () => sendInvoice(message.body), {
    scope: 'invoices',
  });
  kinds.push(kind);
}
await tracerProvider.forceFlush();
const spans = exporter.getFinishedSpans().map((span) => span.name);
console.log(JSON.stringify({ kinds, invoices, spans }));
