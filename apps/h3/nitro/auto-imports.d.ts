// What Nuxt's auto-imports give server/: h3's helpers and the exports of
// server/utils (server/utils/idempotent.ts is the glue of src/idempotent.ts)
// as globals, so the route file typechecks as Nuxt sees it.
declare global {
  const defineHandler: typeof import('h3').defineHandler;
  const idempotent: typeof import('../src/idempotent.ts').idempotent;
  const idem: typeof import('./server/utils/idem.ts').idem;
}

export {};
