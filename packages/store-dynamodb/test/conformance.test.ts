import { dynamoDbSuite } from './suite.js';

// Every check in the quick profile; the deep tier runs them in full
// (conformance.deep.test.ts), and on the path AWS takes on a lost claim, the
// item in the way arriving with the failed condition
// (conformance-all-old.deep.test.ts).
await dynamoDbSuite({ profile: 'quick' });
