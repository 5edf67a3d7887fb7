import { dynamoDbSuite } from './suite.js';

// The suite of conformance.test.ts in the full profile: every property's
// runs, every race key and round (the everyday tier runs a share of each).
await dynamoDbSuite({ profile: 'full' });
