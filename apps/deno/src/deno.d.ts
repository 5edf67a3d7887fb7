// What Deno gives the files under src/, for tsc -b and the docs test, which
// compile them as Node TypeScript. Deno users get the real declarations
// from Deno itself (`deno check`); these are the part of them the files use.

/** The part of Deno's namespace (lib.deno.ns.d.ts) the harness and the example use. */
declare namespace Deno {
  interface NetAddr {
    hostname: string;
    port: number;
  }
  interface ServeOptions {
    port?: number;
    hostname?: string;
    onListen?: (localAddr: NetAddr) => void;
  }
  interface ServeHandlerInfo {
    remoteAddr: NetAddr;
  }
  type ServeHandler = (request: Request, info: ServeHandlerInfo) => Response | Promise<Response>;
  interface HttpServer {
    readonly addr: NetAddr;
    readonly finished: Promise<void>;
    shutdown(): Promise<void>;
  }
  function serve(options: ServeOptions, handler: ServeHandler): HttpServer;
  const env: { get(key: string): string | undefined };
  const args: readonly string[];
}

// Deno imports npm packages by `npm:` specifiers, which TypeScript does not
// resolve: each is the package it names (any version range).
declare module 'npm:@idem/web*' {
  export * from '@idem/web';
}
declare module 'npm:@idem/store-redis*' {
  export * from '@idem/store-redis';
}
declare module 'npm:ioredis*' {
  export * from 'ioredis';
}
