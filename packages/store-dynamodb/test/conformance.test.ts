import { storeSuite } from '@idem/conformance/store';
import { dynamoDbStore } from '../src/index.js';
import { makeClient, openBackend, tableName } from './backend.js';

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
  raceKeys: 200, // dynalite answers a few hundred calls a second: 400 keys take 15 s a check
  createStore: ({ now }) => dynamoDbStore({ client, tableName: table, now }),
  // A client of its own (its own HTTP connections), as another app instance.
  connect: ({ now }) => {
    const own = makeClient(backend.endpoint);
    return {
      store: dynamoDbStore({ client: own, tableName: table, now }),
      close: () => own.destroy(),
    };
  },
  teardown: async () => {
    client.destroy();
    await backend.close();
  },
  skip,
});

// The path AWS takes on a lost claim (the item in the way arrives with the
// failed condition, ReturnValuesOnConditionCheckFailure: ALL_OLD) runs in the
// deep tier: conformance-all-old.deep.test.ts.
