import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createIdempotency } from '@idem/core';
import { dynamoDbStore } from '@idem/store-dynamodb';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, localAws, stopLocalAws } from '../src/local-aws.ts';

// CloudFormation's short forms (!Ref, !GetAtt, !Sub) as their long forms.
const intrinsics = ['Ref', 'GetAtt', 'Sub'].flatMap((name) =>
  (['scalar', 'sequence'] as const).map(
    (kind) =>
      new yaml.Type(`!${name}`, {
        kind,
        construct: (data: unknown) => ({
          [name === 'Ref' ? 'Ref' : `Fn::${name}`]:
            name === 'GetAtt' && typeof data === 'string' ? data.split('.') : data,
        }),
      }),
  ),
);

// biome-ignore lint/suspicious/noExplicitAny: a parsed template, read by path.
type Node = any;
const template: Node = yaml.load(
  readFileSync(new URL('../template.yaml', import.meta.url), 'utf8'),
  { schema: yaml.DEFAULT_SCHEMA.extend(intrinsics) },
);
const resources: Record<string, Node> = template.Resources;
const tableRef = { 'Fn::GetAtt': ['IdempotencyTable', 'Arn'] };

/** What the store sends: each command's name and input, recorded under its own client. */
interface Sent {
  readonly command: string;
  readonly input: Node;
}

const sent: Sent[] = [];

beforeAll(async () => {
  await localAws();
  const client = new DynamoDBClient({});
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push({
        command: String(context.commandName).replace(/Command$/, ''),
        input: args.input,
      });
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  const store = dynamoDbStore({ client, tableName: `idem-template-${Date.now()}` });
  await store.createTable();
  // Every store operation the handlers cause: a run (claim, complete), a
  // replay (a lost claim, then a read), and a run that throws (release).
  const idem = createIdempotency({ store });
  await idem.run('k1', async () => 'done');
  await idem.run('k1', async () => 'done');
  await idem.run('k2', async () => Promise.reject(new Error('boom'))).catch(() => {});
  client.destroy();
});

afterAll(stopLocalAws);

const fromCreateTable = () => sent.filter((s) => /Table|TimeToLive/.test(s.command));
const fromOperations = () => sent.filter((s) => !/Table|TimeToLive/.test(s.command));

describe('template.yaml', () => {
  it('declares the table the store creates: its key schema, attributes and TTL', () => {
    const table = resources.IdempotencyTable;
    expect(table.Type).toBe('AWS::DynamoDB::Table');
    const created = fromCreateTable().find((s) => s.command === 'CreateTable')!.input;
    expect(table.Properties.KeySchema).toEqual(created.KeySchema);
    expect(table.Properties.AttributeDefinitions).toEqual(created.AttributeDefinitions);
    expect(table.Properties.BillingMode).toBe(created.BillingMode);
    const ttl = fromCreateTable().find((s) => s.command === 'UpdateTimeToLive')!.input;
    expect(table.Properties.TimeToLiveSpecification).toEqual(ttl.TimeToLiveSpecification);
  });

  it("grants each function exactly the table actions the store's operations send, on that table alone", () => {
    const needed = [...new Set(fromOperations().map((s) => `dynamodb:${s.command}`))].sort();
    expect(needed).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    for (const { logicalId } of Object.values(FUNCTIONS)) {
      const statements = resources[logicalId].Properties.Policies.flatMap((p: Node) => p.Statement);
      const granted = statements.flatMap((s: Node) => {
        expect(s.Effect).toBe('Allow');
        expect(s.Resource).toEqual(tableRef);
        return s.Action;
      });
      expect([...granted].sort(), logicalId).toEqual(needed);
    }
  });

  it('names the table in IDEM_TABLE and deploys each handler the module exports', async () => {
    expect(template.Globals.Function.Environment.Variables.IDEM_TABLE).toEqual({
      Ref: 'IdempotencyTable',
    });
    // SAM refuses these in Globals: a function's permissions are its own.
    for (const name of ['Policies', 'Role', 'Events', 'FunctionName']) {
      expect(template.Globals.Function).not.toHaveProperty(name);
    }
    const handlers: Record<string, unknown> = await import('../src/handlers.ts');
    for (const { logicalId } of Object.values(FUNCTIONS)) {
      const [file, name] = resources[logicalId].Properties.Handler.split('.');
      expect(file).toBe('handlers');
      expect(typeof handlers[name], logicalId).toBe('function');
    }
  });

  it('gives the functions the timeouts the local run invokes them with', () => {
    for (const { logicalId, timeoutSeconds } of Object.values(FUNCTIONS)) {
      expect(resources[logicalId].Properties.Timeout, logicalId).toBe(timeoutSeconds);
    }
  });

  it('maps the credits queue with ReportBatchItemFailures, a visibility timeout of six function timeouts and a dead-letter queue', () => {
    const [source] = Object.values(resources.CreditsFunction.Properties.Events) as Node[];
    expect(source.Type).toBe('SQS');
    expect(source.Properties.Queue).toEqual({ 'Fn::GetAtt': ['CreditsQueue', 'Arn'] });
    expect(source.Properties.FunctionResponseTypes).toContain('ReportBatchItemFailures');
    const queue = resources.CreditsQueue.Properties;
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * FUNCTIONS.credits.timeoutSeconds);
    expect(queue.RedrivePolicy.deadLetterTargetArn).toEqual({
      'Fn::GetAtt': ['CreditsDeadLetterQueue', 'Arn'],
    });
  });

  it('routes POST /payments of an HTTP API (payload 2.0) to the payments handler', () => {
    const [route] = Object.values(resources.PaymentsFunction.Properties.Events) as Node[];
    expect(route).toEqual({ Type: 'HttpApi', Properties: { Path: '/payments', Method: 'POST' } });
  });
});
