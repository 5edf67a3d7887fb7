import { workerHttpSuite } from './http-suite.ts';

// The deep share of the HTTP suite in workerd: DynamoDB (dynalite over HTTP
// from inside the Worker, 350 KiB kept) and Durable Objects on their binding.
workerHttpSuite(['dynamodb', 'durable-objects']);
