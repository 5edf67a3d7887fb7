import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, expect, it } from 'vitest';
import { invocationContext, localAws, stopLocalAws } from '../src/local-aws.ts';

const artifacts = mkdtempSync(join(tmpdir(), 'idem-example-lambda-'));
afterAll(async () => {
  rmSync(artifacts, { recursive: true, force: true });
  await stopLocalAws();
});

it('the bundle sam build makes (the Makefile) loads as Lambda loads it and replays a retried payment', async () => {
  await localAws();
  const cwd = new URL('..', import.meta.url);
  execFileSync('make', ['-s', 'build-PaymentsFunction', `ARTIFACTS_DIR=${artifacts}`], {
    cwd,
    stdio: 'pipe',
  });
  // Lambda imports handlers.mjs and calls the export the template's Handler names.
  const bundle = await import(
    /* @vite-ignore */ pathToFileURL(join(artifacts, 'handlers.mjs')).href
  );
  const event = JSON.parse(
    readFileSync(new URL('../events/payment.json', import.meta.url), 'utf8'),
  ) as APIGatewayProxyEventV2;
  event.headers['idempotency-key'] = crypto.randomUUID();
  const invoke = (): Promise<APIGatewayProxyStructuredResultV2> =>
    bundle.payments(structuredClone(event), invocationContext('payments'));
  const first = await invoke();
  const retry = await invoke();
  expect(first.statusCode).toBe(201);
  expect(retry.statusCode).toBe(201);
  expect(retry.headers?.['idempotent-replayed']).toBe('true');
  expect(retry.body).toBe(first.body);
  expect(typeof bundle.credits).toBe('function');
});
