import { reachServer } from '@idem/conformance';
import amqp from 'amqplib';

/** The test broker; guest/guest on 127.0.0.1 as on the dev machines and in .ci/run. */
export const AMQP_URL: string = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Whether RabbitMQ answers: skips loudly locally, throws under CI=true. */
export function reachRabbitMQ(): Promise<boolean> {
  return reachServer('RabbitMQ', AMQP_URL.replace(/\/\/[^@/]*@/, '//'), async () => {
    const connection = await amqp.connect(AMQP_URL, { timeout: 3_000 });
    await connection.close();
  });
}
