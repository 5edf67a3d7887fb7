// The one thing src/workerd.ts takes from workerd's built-in module: the base
// class that lets a Durable Object answer JS RPC. Declared here, not taken
// from @cloudflare/workers-types, whose globals clash with the DOM and Node
// types the rest of the repository compiles against.
declare module 'cloudflare:workers' {
  export abstract class DurableObject<Env = unknown> {
    protected ctx: unknown;
    protected env: Env;
    constructor(ctx: unknown, env: Env);
  }
}
