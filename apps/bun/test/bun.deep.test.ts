import { bunSuite } from './suite.ts';

// Each test server is Bun.serve({ port: 0, fetch }) around the suite's
// idem-wrapped Fetch handler.
await bunSuite('@idem/web on Bun.serve', []);
