import { bunSuite } from './suite.ts';

// Each test server is an Elysia app on Bun whose routes hand Elysia's
// `request` to the idem-wrapped handler (src/elysia-suite.ts).
await bunSuite('@idem/web on Elysia (Bun)', ['elysia']);
