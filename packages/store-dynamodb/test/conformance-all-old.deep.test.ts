import { storeSuite } from '@idem/conformance/store';
import { dynamoDbStore } from '../src/index.js';
import { makeClient, openBackend, tableName, withAllOld } from './backend.js';

// dynalite on an ephemeral port, or DYNAMODB_ENDPOINT (DynamoDB Local, AWS).
const backend = await openBackend();
const client = makeClient(backend.endpoint);
const table = tableName('conformance-all-old');
if (backend.up) await dynamoDbStore({ client, tableName: table }).createTable();
const skip = !backend.up && `DynamoDB is not reachable at ${backend.endpoint}`;
const maxBodyBytes = dynamoDbStore({ client, tableName: table }).maxResponseBytes;

// dynalite ignores ReturnValuesOnConditionCheckFailure, so the suite above
// drives the GetItem fallback of a lost claim. This run drives the path AWS
// takes: the item in the way arrives with the failed condition.
const allOld = withAllOld(client, backend.endpoint);
storeSuite({
  name: 'dynamodb (claim conflicts answered with ALL_OLD)',
  clock: 'injectable',
  sharedBackend: true,
  maxBodyBytes,
  raceKeys: 200,
  createStore: ({ now }) => dynamoDbStore({ client: allOld, tableName: table, now }),
  connect: ({ now }) => {
    const own = makeClient(backend.endpoint);
    const store = dynamoDbStore({
      client: withAllOld(own, backend.endpoint),
      tableName: table,
      now,
    });
    return { store, close: () => own.destroy() };
  },
  teardown: async () => {
    client.destroy();
    await backend.close();
  },
  skip,
});
