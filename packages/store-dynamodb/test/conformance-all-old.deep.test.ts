import { dynamoDbSuite } from './suite.js';

// dynalite ignores ReturnValuesOnConditionCheckFailure, so conformance.test.ts
// drives the GetItem fallback of a lost claim. This run drives the path AWS
// takes: the item in the way arrives with the failed condition.
await dynamoDbSuite({ profile: 'full', allOld: true });
