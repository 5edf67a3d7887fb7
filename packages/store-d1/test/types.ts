/**
 * Compiled by `tsc -b` (pnpm typecheck), never run: the D1 binding types
 * users have, `D1Database` from @cloudflare/workers-types (what `wrangler
 * types` generates is the same declaration), fit the store's structural option.
 */
import type { D1Database } from '@cloudflare/workers-types/index.js';
import { type D1Store, d1Store } from '../src/index.js';

export function fromBinding(env: { DB: D1Database }): D1Store {
  return d1Store({ database: env.DB });
}
