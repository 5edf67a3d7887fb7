/** Headers never stored nor replayed (docs/SEMANTICS.md, Replayed headers): hop-by-hop, recomputed, or idem's own. */
const ALWAYS_DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'date',
  'content-length',
  'idempotent-replayed',
  'idem-not-stored',
]);

/**
 * The headers of a response as they are stored for replay: names lower-cased,
 * order and repeats kept; hop-by-hop headers (including those the response's
 * own `Connection` header names), `Date`, `Content-Length` and, unless
 * `keepSetCookie`, `Set-Cookie` dropped. With `only`, just the headers it
 * names (lower-case) are kept, among those.
 */
export function storableHeaders(
  headers: Iterable<readonly [string, string]>,
  keepSetCookie: boolean,
  only?: ReadonlySet<string>,
): Array<[string, string]> {
  const list: Array<[string, string]> = [];
  let connectionTokens: Set<string> | undefined;
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (name === 'connection') {
      connectionTokens ??= new Set();
      for (const token of value.split(',')) connectionTokens.add(token.trim().toLowerCase());
    }
    if (ALWAYS_DROPPED.has(name) || (!keepSetCookie && name === 'set-cookie')) continue;
    if (only && !only.has(name)) continue;
    list.push([name, value]);
  }
  return connectionTokens ? list.filter(([n]) => !connectionTokens.has(n)) : list;
}
