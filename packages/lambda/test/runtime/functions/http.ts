import { idempotency, type LambdaHttpEvent, type LambdaHttpResult } from '@idem/lambda';
import type { Context } from 'aws-lambda';
import { keyHeader, leaseMarginMs, perform, storeFromEnv } from './world.js';

/**
 * `POST /payments` behind any HTTP event source (API Gateway REST and HTTP
 * APIs, Function URLs, ALB), wrapped by `idempotency()`: one function for
 * every format, as the wrapper tells them apart per event.
 */
export const handler: (event: LambdaHttpEvent, context: Context) => Promise<LambdaHttpResult> =
  idempotency({ store: storeFromEnv(), leaseMarginMs })(
    async (event: LambdaHttpEvent, context: Context): Promise<LambdaHttpResult> => ({
      statusCode: 201,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(await perform(keyHeader(event), context)),
    }),
  );
