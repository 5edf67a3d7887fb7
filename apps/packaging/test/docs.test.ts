import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { type DocBlock, docBlocks, docFiles, docsCompilerOptions } from './doc-blocks.ts';
import { brokenLinks } from './docs-links.ts';
import { knownNames, publishedEntries, unknownNames } from './docs-names.ts';

/**
 * The docs hold in three ways. Every `ts` code block in the README, docs/
 * and the packages' and apps' READMEs is typechecked as a module of its own,
 * against the packages' sources, with strict TypeScript as a user would
 * compile it. A block may
 * declare its free names (the `app` it mounts on, the handler it calls) in a
 * hidden `<!-- ts-prelude … -->` comment right before it. Every relative
 * link leads to a file, and its `#fragment` to a heading there. Every name in
 * backticks that reads as an export (docs-names.ts says which do) is one.
 */

const root = fileURLToPath(new URL('../../..', import.meta.url));
const out = fileURLToPath(new URL('../.doc-blocks', import.meta.url));

/**
 * Identifiers the docs name in backticks that are not ours to export: other
 * libraries' classes and types, and names the reader writes. Each line says
 * why; the global scope of the TypeScript, DOM and Node libs is allowed
 * without a line.
 */
const NOT_EXPORTS: ReadonlyMap<string, string> = new Map(
  (
    [
      [['Authorization', 'Connection', 'Trailer', 'Upgrade'], 'HTTP header names'],
      [['Hono', 'HTTPException', 'Env'], "Hono's app, error class and bindings type"],
      [['D1Database', 'DurableObject', 'DurableObjectNamespace'], "Cloudflare Workers' types"],
      [
        ['Redis', 'Cluster', 'createClient', 'createCluster'],
        "ioredis' classes and node-redis' factories",
      ],
      [['PoolCluster'], "mysql2's cluster of pools"],
      [['DynamoDBClient', 'FetchHttpHandler', 'ValidationException'], 'the AWS SDK'],
      [
        [
          'GetItem',
          'PutItem',
          'UpdateItem',
          'DeleteItem',
          'CreateTable',
          'DescribeTable',
          'UpdateTimeToLive',
          'ConditionExpression',
          'ReturnConsumedCapacity',
          'ReturnValuesOnConditionCheckFailure',
        ],
        "DynamoDB's API actions and parameters",
      ],
      [['NodeSDK', 'BasicTracerProvider', 'MeterProvider'], "OpenTelemetry's SDK"],
      [['PubAck'], "NATS JetStream's publish acknowledgement"],
      [
        ['APIGatewayProxyEvent', 'APIGatewayProxyEventV2', 'ALBEvent', 'SQSRecord', 'Context'],
        "Lambda's event and context types (@types/aws-lambda)",
      ],
      [
        ['ReportBatchItemFailures', 'MaximumRetryAttempts'],
        "a Lambda event source mapping's settings",
      ],
      [
        ['Keys', 'OldImage', 'NewImage', 'SendMessage', 'PutRecord', 'MessageDeduplicationId'],
        "DynamoDB Streams' record fields, SQS's and Kinesis' API actions and parameters",
      ],
      [
        [
          'NotFoundException',
          'ConflictException',
          'HttpException',
          'AuthGuard',
          'CanActivate',
          'ValidationPipe',
          'StreamableFile',
        ],
        "NestJS's classes and interfaces",
      ],
      [['FastifyRequest'], "Fastify's request type"],
      [
        [
          'RedisPersistenceLayer',
          'IdempotencyConfig',
          'IdempotencyAlreadyInProgressError',
          'DynamoDBPersistenceLayer',
          'CachePersistenceLayer',
          'BatchProcessor',
          'SqsFifoPartialProcessor',
          'FullBatchFailureError',
        ],
        "AWS Lambda Powertools' classes (the migration page)",
      ],
      [
        [
          'Handler_write',
          'Handler_update',
          'Handler_delete',
          'Innodb_lsn_current',
          'Innodb_os_log_written',
          'Innodb_rows_updated',
        ],
        "MySQL's and MariaDB's status variables (SHOW STATUS)",
      ],
      [['onError'], "Hono's app.onError and Fastify's onError hook"],
      [['createLedger'], "the queue apps' own ledger (apps/queue-*/src), not a package's"],
    ] as const
  ).flatMap(([names, reason]) => names.map((name) => [name, reason] as const)),
);

interface Written {
  readonly block: DocBlock;
  readonly path: string;
  /** Lines before the block's code in the written file. */
  readonly offset: number;
}

function write(blocks: readonly DocBlock[]): Written[] {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  return blocks.map((block, i) => {
    const path = join(out, `${block.file.replace(/\W+/g, '_')}_${i}.ts`);
    const head = block.prelude ? `${block.prelude}\n` : '';
    writeFileSync(path, `${head}${block.code}\nexport {};\n`);
    return { block, path, offset: head === '' ? 0 : head.split('\n').length - 1 };
  });
}

/**
 * The blocks' modules, the published entry points and an empty module whose
 * scope shows the global names, in one program: the packages' sources are
 * parsed and bound once for both checks that read them.
 */
interface DocsProgram {
  readonly program: ts.Program;
  readonly written: readonly Written[];
  readonly entries: readonly string[];
  readonly globalsFile: string;
}

function docsProgram(blocks: readonly DocBlock[]): DocsProgram {
  const written = write(blocks);
  const entries = publishedEntries(root);
  const globalsFile = join(out, 'globals.ts');
  writeFileSync(globalsFile, 'export {};\n');
  const program = ts.createProgram(
    [...written.map((w) => w.path), ...entries, globalsFile],
    docsCompilerOptions,
  );
  return { program, written, entries, globalsFile };
}

/**
 * What the compiler finds wrong in the blocks' modules. Only they are
 * checked: the packages' own sources are typechecked by tsc -b, under their
 * own settings, and here only the blocks are on trial.
 */
function blockDiagnostics({ program, written }: DocsProgram): readonly ts.Diagnostic[] {
  const perBlock = written.flatMap((w) => {
    const file = program.getSourceFile(w.path)!;
    return [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)];
  });
  return [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics(), ...perBlock];
}

describe('docs that hold', () => {
  const blocks = docFiles(root).flatMap((file) => docBlocks(root, file));
  let built: DocsProgram | undefined;
  const shared = () => {
    built ??= docsProgram(blocks);
    return built;
  };

  it('finds the code blocks users copy', () => {
    expect(blocks.length).toBeGreaterThan(20);
  });

  it('every ts code block typechecks', () => {
    const docs = shared();
    const byPath = new Map(docs.written.map((w) => [w.path, w]));
    const problems: string[] = [];
    for (const diagnostic of blockDiagnostics(docs)) {
      const w = diagnostic.file && byPath.get(diagnostic.file.fileName);
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      // Found in a package's source while checking a block: that source's own check says it.
      if (diagnostic.file && !w) continue;
      if (!w || diagnostic.start === undefined) {
        problems.push(`(global) TS${diagnostic.code}: ${message}`);
        continue;
      }
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
      const inCode = line - w.offset;
      const where =
        inCode >= 0
          ? `${w.block.file}:${w.block.line + inCode}`
          : `${w.block.file}:${w.block.line} (prelude line ${line + 1})`;
      problems.push(`${where} TS${diagnostic.code}: ${message}`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  }, 120_000);

  it('every relative link leads to a file, and a #fragment to a heading there', () => {
    const problems = brokenLinks(root, docFiles(root));
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('every name in backticks that reads as an export is exported by a published entry point', () => {
    const { program, entries, globalsFile } = shared();
    const known = knownNames(program, entries, globalsFile);
    const problems = unknownNames(root, docFiles(root), known, new Set(NOT_EXPORTS.keys()));
    expect(problems, problems.join('\n')).toEqual([]);
  }, 120_000);
});
