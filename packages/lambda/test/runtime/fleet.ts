import { fileURLToPath } from 'node:url';
import type { StoreBackend } from './backends.js';
import { bundleHandler } from './bundle.js';
import { type Delivery, Environment, type LogLine, type OnTimeout } from './environment.js';
import { DYNAMO_LOG, type DynamoRequest } from './functions/world.js';
import { Ledger } from './ledger.js';

/**
 * One function deployed on several execution environments, as Lambda
 * scales it out: the same bundle, configuration and store, with a ledger
 * that plans runs and counts side effects. Deliveries go to a chosen
 * environment; a redelivery is the same event invoked again (SQS after the
 * visibility timeout, an API Gateway client's retry).
 */
export interface FleetOptions {
  /** The handler module's source, relative to test/runtime/functions (e.g. 'plain.ts'). */
  readonly source: string;
  /** Export name of the handler. @default 'handler' */
  readonly exportName?: string;
  readonly store: StoreBackend;
  /** How many environments. @default 1 */
  readonly environments?: number;
  /** The function's timeout. @default 5000 */
  readonly timeoutMs?: number;
  /** The wrappers' leaseMarginMs. @default 1000 */
  readonly leaseMarginMs?: number;
  /** How long an unplanned run works before its side effect. @default 200 */
  readonly workMs?: number;
}

export class Fleet {
  readonly environments: Environment[];
  readonly ledger: Ledger;
  readonly logs: LogLine[];
  readonly leaseMarginMs: number;
  readonly timeoutMs: number;
  #remove: () => Promise<void>;

  private constructor(
    environments: Environment[],
    ledger: Ledger,
    logs: LogLine[],
    options: FleetOptions,
    remove: () => Promise<void>,
  ) {
    this.environments = environments;
    this.ledger = ledger;
    this.logs = logs;
    this.leaseMarginMs = options.leaseMarginMs ?? 1_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.#remove = remove;
  }

  /** Bundle the handler, start the ledger and warm every environment (their cold starts are not timed). */
  static async deploy(options: FleetOptions): Promise<Fleet> {
    const entry = fileURLToPath(new URL(`./functions/${options.source}`, import.meta.url));
    const bundle = await bundleHandler(entry);
    const ledger = await Ledger.start(options.workMs ?? 200);
    const logs: LogLine[] = [];
    const name = `idem-${options.source.replace(/\.ts$/, '')}-${options.store.name}`;
    const spec = {
      name,
      taskRoot: bundle.taskRoot,
      handler: `index.${options.exportName ?? 'handler'}`,
      timeoutMs: options.timeoutMs ?? 5_000,
      env: {
        ...options.store.env,
        LEDGER_URL: ledger.url,
        IDEM_LEASE_MARGIN_MS: String(options.leaseMarginMs ?? 1_000),
      },
    };
    const environments = Array.from(
      { length: options.environments ?? 1 },
      (_, i) => new Environment(i, spec, logs),
    );
    await Promise.all(environments.map((e) => e.warm()));
    return new Fleet(environments, ledger, logs, options, bundle.remove);
  }

  /** Deliver `event` to environment `index`. */
  deliver(
    index: number,
    event: unknown,
    options: { onTimeout?: OnTimeout } = {},
  ): Promise<Delivery> {
    const environment = this.environments[index];
    if (!environment)
      throw new Error(`no environment ${index} (${this.environments.length} deployed)`);
    return environment.invoke(event, options);
  }

  /** Deliver `event` to every environment at once (a duplicate storm's round). */
  deliverEverywhere(event: unknown): Promise<Delivery[]> {
    return Promise.all(this.environments.map((e) => e.invoke(event)));
  }

  /** The DynamoDB requests the function logged while serving `requestId`. */
  dynamoRequests(requestId: string): DynamoRequest[] {
    return this.logs
      .filter((l) => l.requestId === requestId && l.message.startsWith(DYNAMO_LOG))
      .map((l) => JSON.parse(l.message.slice(DYNAMO_LOG.length)) as DynamoRequest);
  }

  /** Lines the runtimes wrote outside the structured log (for a failing test's message). */
  stderr(): string {
    return this.environments.flatMap((e) => e.stderr).join('\n');
  }

  async close(): Promise<void> {
    await Promise.all(this.environments.map((e) => e.close()));
    await this.ledger.close();
    await this.#remove();
  }
}
