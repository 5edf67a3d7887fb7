// The Worker of @idem/store-d1's and @idem/store-durable-objects' READMEs,
// the two in one: a Hono app on each store, bundled from the installed
// tarballs with the workerd export condition (as wrangler bundles) and run
// in workerd by tarballs.deep.test.ts.
import { idempotency } from '@idem/hono';
import { d1Store } from '@idem/store-d1';
import { durableObjectStore } from '@idem/store-durable-objects';
import { Hono } from 'hono';

export { IdempotencyObject } from '@idem/store-durable-objects';

function createApp(env) {
  const d1 = d1Store({ database: env.IDEM_DB });
  const durable = durableObjectStore({ namespace: env.IDEMPOTENCY });
  // Without migrations, the README's store.migrate() creates the table from code.
  let migrated;
  let runs = 0;
  const app = new Hono();
  app.use('/d1/*', async (_c, next) => {
    migrated ??= d1.migrate();
    await migrated;
    await next();
  });
  app.use('/d1/*', idempotency({ store: d1 }));
  app.use('/do/*', idempotency({ store: durable }));
  app.post('/d1/payments', (c) => c.json({ id: crypto.randomUUID(), run: ++runs }, 201));
  app.post('/do/payments', (c) => c.json({ id: crypto.randomUUID(), run: ++runs }, 201));
  return app;
}

let app;

export default {
  // Bindings arrive with the first request: build the app, and its stores, once per isolate.
  fetch(request, env, ctx) {
    app ??= createApp(env);
    return app.fetch(request, env, ctx);
  },
};
