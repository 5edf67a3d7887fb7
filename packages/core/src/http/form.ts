import { utf8 } from '../bytes.js';

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;

/** Whether a `Content-Type` names an HTML form body (`application/x-www-form-urlencoded`). */
export function isFormContentType(contentType: string | null | undefined): boolean {
  return typeof contentType === 'string' && FORM_TYPE.test(contentType);
}

/**
 * Fields encoded back into a form body, in their order, the way browsers and
 * `URLSearchParams` encode forms (`+` for spaces, `%XX` for UTF-8 bytes).
 *
 * For an app whose body parser ran before idem (Express with
 * `express.urlencoded()` mounted first) only the decoded fields are left. idem
 * fingerprints bodies as raw bytes (docs/SEMANTICS.md, Fingerprints), so it rebuilds them: for forms
 * encoded the standard way the result is the very bytes the client sent, and
 * identical requests always give identical bytes.
 */
export function encodeFormFields(fields: Iterable<readonly [string, string]>): Uint8Array {
  const params = new URLSearchParams();
  for (const [name, value] of fields) params.append(name, value);
  return utf8(params.toString());
}
