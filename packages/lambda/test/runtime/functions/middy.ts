import type { LambdaHttpEvent, LambdaHttpResult } from '@idem/lambda';
import { idempotencyMiddleware } from '@idem/lambda/middy';
import middy, { type MiddyfiedHandler } from '@middy/core';
import type { Context } from 'aws-lambda';
import { keyHeader, leaseMarginMs, perform, storeFromEnv } from './world.js';

/** The same `POST /payments` as http.ts, as a Middy handler with idem's middleware. */
export const handler: MiddyfiedHandler<LambdaHttpEvent, LambdaHttpResult, Error, Context> = middy(
  async (event: LambdaHttpEvent, context: Context): Promise<LambdaHttpResult> => ({
    statusCode: 201,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(await perform(keyHeader(event), context)),
  }),
).use(idempotencyMiddleware({ store: storeFromEnv(), leaseMarginMs }));
