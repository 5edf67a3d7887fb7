import { bunSuite } from './suite.ts';

// Elysia on Bun, the two ways a user puts a Fetch handler in an Elysia app
// (src/elysia-suite.ts): Elysia routes handing their `request` to the
// idem-wrapped handler (what docs/runtimes/elysia.md shows), and the
// handler mounted whole. Elysia's mount hands the handler
// `new Request(url, request)`, whose body's cancel never settles in Bun
// 1.4.5: @idem/web does not wait on it when it refuses a body over the limit.
await bunSuite('@idem/web in Elysia routes (Bun)', ['elysia']);
await bunSuite('@idem/web mounted in Elysia (Bun)', ['elysia-mount']);
