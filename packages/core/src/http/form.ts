import { concatBytes, utf8 } from '../bytes.js';

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

/** One name or value encoded as a form field encodes it (`+` for spaces, `%XX` for the rest). */
const formEncode = (text: string): string =>
  new URLSearchParams([[text, '']]).toString().slice(0, -1);

/**
 * A form a framework already decoded into a Web `FormData` (Hono's
 * `c.req.formData()`), encoded back into bytes for the fingerprint. Text
 * fields are encoded as {@link encodeFormFields} encodes them, so a form
 * sent as `application/x-www-form-urlencoded` the standard way gives back
 * the bytes the client sent. A multipart body cannot be rebuilt (its
 * boundary was the client's random choice): a file is written as its field
 * name, type, size and file name joined by `:` (which form encoding always
 * escapes), and its bytes follow the fields after a line feed, so two forms
 * give the same bytes only when every field and every file is the same.
 */
export async function encodeFormData(form: FormData): Promise<Uint8Array> {
  const fields: string[] = [];
  const files: Uint8Array[] = [];
  for (const [name, value] of form) {
    if (typeof value === 'string') {
      fields.push(`${formEncode(name)}=${formEncode(value)}`);
    } else {
      fields.push(
        `${formEncode(name)}:${formEncode(value.type)}:${value.size}:${formEncode(value.name)}`,
      );
      files.push(new Uint8Array(await value.arrayBuffer()));
    }
  }
  const text = utf8(fields.join('&'));
  return files.length === 0 ? text : concatBytes([text, utf8('\n'), ...files]);
}
