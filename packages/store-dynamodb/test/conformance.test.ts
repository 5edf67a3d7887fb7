import { storeSuite } from '@idem/conformance/store';
import { dynamoDbStore } from '../src/index.js';
import { makeClient, openBackend, tableName, withAllOld } from './backend.js';

// dynalite on an ephemeral port, or DYNAMODB_ENDPOINT (DynamoDB Local, AWS).
const backend = await openBackend();
const client = makeClient(backend.endpoint);
const table = tableName('conformance');
if (backend.up) await dynamoDbStore({ client, tableName: table }).createTable();
const skip = !backend.up && `DynamoDB is not reachable at ${backend.endpoint}`;
const maxBodyBytes = dynamoDbStore({ client, tableName: table }).maxResponseBytes;

storeSuite({
  name: `dynamodb (${backend.local ? 'dynalite' : backend.endpoint})`,
  clock: 'injectable',
  sharedBackend: true,
  maxBodyBytes,
  createStore: ({ now }) => dynamoDbStore({ client, tableName: table, now }),
  skip,
});

// dynalite ignores ReturnValuesOnConditionCheckFailure, so the suite above
// drives the GetItem fallback of a lost claim. This run drives the path AWS
// takes: the item in the way arrives with the failed condition.
const allOld = withAllOld(client, backend.endpoint);
storeSuite({
  name: 'dynamodb (claim conflicts answered with ALL_OLD)',
  clock: 'injectable',
  sharedBackend: true,
  maxBodyBytes,
  createStore: ({ now }) => dynamoDbStore({ client: allOld, tableName: table, now }),
  teardown: async () => {
    client.destroy();
    await backend.close();
  },
  skip,
});
