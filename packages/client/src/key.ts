import { IdempotentFetchError } from './errors.js';
import type { Resolved } from './options.js';

/** The key of the call: the per-call `key`, else the caller's header, else a new one. */
export function chooseKey(
  headers: Headers,
  o: Pick<Resolved, 'header' | 'generateKey'>,
  callKey: string | undefined,
): string {
  const sent = headers.get(o.header);
  if (callKey === undefined) {
    if (sent !== null) return sent;
    const key = o.generateKey();
    headers.set(o.header, checkKey(key, 'generateKey() returned'));
    return key;
  }
  const value = checkKey(callKey, 'idempotency.key is');
  if (sent !== null && sent !== value) {
    throw new IdempotentFetchError(
      'KEY_INVALID',
      `This call has two idempotency keys: idempotency.key and the ${o.header} header. Pass one of them.`,
    );
  }
  headers.set(o.header, value);
  return callKey;
}

/** Check a key and return its header value: bare, or an RFC 8941 string when bare would not parse. */
export function checkKey(key: unknown, what: string): string {
  if (typeof key !== 'string' || !/^[\x20-\x7e]{1,255}$/.test(key)) {
    throw new IdempotentFetchError(
      'KEY_INVALID',
      `${what} not a valid idempotency key: use 1 to 255 printable ASCII characters, e.g. a UUID.`,
    );
  }
  return /[ ,]|^"/.test(key) ? `"${key.replace(/[\\"]/g, '\\$&')}"` : key;
}
