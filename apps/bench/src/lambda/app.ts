/**
 * The payments function every Lambda row wraps, in its two shapes: an HTTP
 * API handler and a handler of a plain payload. It counts its executions,
 * and per key for storm invocations (those carry a delay).
 */
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { PaymentEvent } from './events.ts';

/** What a charge answers. */
export interface Receipt {
  readonly id: string;
  readonly amount: number | undefined;
  readonly currency: string | undefined;
  readonly status: 'succeeded';
}

/** An API Gateway HTTP API (payload 2.0) handler. */
export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;
/** A handler of the plain payment payload. */
export type PaymentHandler = (event: PaymentEvent, context: Context) => Promise<Receipt>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The handlers and what they counted. */
export class PaymentsApp {
  executions = 0;
  readonly #perKey = new Map<string, number>();

  async #charge(
    key: string | undefined,
    body: { amount?: number; currency?: string; delayMs?: number },
  ): Promise<Receipt> {
    this.executions++;
    if (body.delayMs !== undefined) {
      this.#perKey.set(String(key), (this.#perKey.get(String(key)) ?? 0) + 1);
      await sleep(body.delayMs);
    }
    return {
      id: `pay_${this.executions}`,
      amount: body.amount,
      currency: body.currency,
      status: 'succeeded',
    };
  }

  /** `POST /payments` behind an HTTP API: 201 with the receipt. */
  readonly http: HttpHandler = async (event) => {
    const receipt = await this.#charge(
      event.headers['idempotency-key'],
      JSON.parse(event.body ?? '{}') as { amount?: number; currency?: string; delayMs?: number },
    );
    return {
      statusCode: 201,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(receipt),
    };
  };

  /** The same charge from a plain payload: returns the receipt. */
  readonly payment: PaymentHandler = (event) => this.#charge(event.paymentId, event);

  /** Storm executions of `key` so far. */
  executionsOf(key: string): number {
    return this.#perKey.get(key) ?? 0;
  }
}
