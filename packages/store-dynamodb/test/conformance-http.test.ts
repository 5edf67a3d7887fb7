import { storeHttpSuite } from '@idem/conformance/http';
import { dynamoDbStore } from '../src/index.js';
import { makeClient, openBackend, tableName } from './backend.js';

// The HTTP suite end to end on this store, through the reference server (a
// bare node:http server on @idem/core/http, the layer every adapter
// translates to). The adapters' own HTTP suites run on the memory store and
// Redis: they prove the translation; this file proves the store over HTTP.
const backend = await openBackend();
const client = makeClient(backend.endpoint);
const table = tableName('http');
if (backend.up) await dynamoDbStore({ client, tableName: table }).createTable();

storeHttpSuite({
  name: 'dynamodb',
  createStore: () => dynamoDbStore({ client, tableName: table }),
  teardown: async () => {
    client.destroy();
    await backend.close();
  },
  skip: !backend.up && `DynamoDB is not reachable at ${backend.endpoint}`,
});
