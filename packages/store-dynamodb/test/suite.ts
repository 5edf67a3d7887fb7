import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { storeSuite } from '@idem/conformance/store';
import type { StoreSuiteProfile } from '@idem/conformance/store/checks';
import { dynamoDbStore } from '../src/index.js';
import { makeClient, openBackend, tableName, withAllOld } from './backend.js';

/**
 * The store suite on dynalite (or DYNAMODB_ENDPOINT: DynamoDB Local, AWS),
 * on a table of its own, under `profile`. With `allOld`, a lost claim's item
 * arrives with the failed condition (ReturnValuesOnConditionCheckFailure:
 * ALL_OLD), the path AWS takes; dynalite ignores that parameter, so without
 * it the suite drives the store's GetItem fallback.
 */
export async function dynamoDbSuite(options: {
  readonly profile: StoreSuiteProfile;
  readonly allOld?: boolean;
}): Promise<void> {
  const backend = await openBackend();
  const client = makeClient(backend.endpoint);
  const table = tableName(options.allOld ? 'conformance-all-old' : 'conformance');
  if (backend.up) await dynamoDbStore({ client, tableName: table }).createTable();
  const wrap = (own: DynamoDBClient) => (options.allOld ? withAllOld(own, backend.endpoint) : own);
  const shared = wrap(client);
  storeSuite({
    name: options.allOld
      ? 'dynamodb (claim conflicts answered with ALL_OLD)'
      : `dynamodb (${backend.local ? 'dynalite' : backend.endpoint})`,
    clock: 'injectable',
    sharedBackend: true,
    maxBodyBytes: dynamoDbStore({ client, tableName: table }).maxResponseBytes,
    profile: options.profile,
    raceKeys: 200, // dynalite answers a few hundred calls a second: 400 keys take 15 s a check
    createStore: ({ now }) => dynamoDbStore({ client: shared, tableName: table, now }),
    // A client of its own (its own HTTP connections), as another app instance.
    connect: ({ now }) => {
      const own = makeClient(backend.endpoint);
      return {
        store: dynamoDbStore({ client: wrap(own), tableName: table, now }),
        close: () => own.destroy(),
      };
    },
    teardown: async () => {
      client.destroy();
      await backend.close();
    },
    skip: !backend.up && `DynamoDB is not reachable at ${backend.endpoint}`,
  });
}
