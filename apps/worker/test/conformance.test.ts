import { workerHttpSuite } from './http-suite.ts';

// The everyday share of the HTTP suite in workerd: the memory store, and D1
// on its binding. conformance.deep.test.ts runs it on the other two stores.
workerHttpSuite(['memory', 'd1']);
