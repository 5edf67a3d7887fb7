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
// dynalite spends ~5 ms of this CPU per call: half the model runs (~1,200
// commands) still reach all 40 kinds of lifecycle transition most runs, and
// every run more than the 200 short sequences did before (27 to 29).
const modelRuns = 50;

storeSuite({
  name: `dynamodb (${backend.local ? 'dynalite' : backend.endpoint})`,
  clock: 'injectable',
  sharedBackend: true,
  maxBodyBytes,
  modelRuns,
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
  modelRuns,
  createStore: ({ now }) => dynamoDbStore({ client: allOld, tableName: table, now }),
  teardown: async () => {
    client.destroy();
    await backend.close();
  },
  skip,
});
