import { utf8 } from '../bytes.js';

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;
const decoder = new TextDecoder();

/** Whether a `Content-Type` names an HTML form body (`application/x-www-form-urlencoded`). */
export function isFormContentType(contentType: string | null | undefined): boolean {
  return typeof contentType === 'string' && FORM_TYPE.test(contentType);
}

/**
 * The fields of a form body, decoded as the WHATWG URL standard decodes
 * `application/x-www-form-urlencoded` (`+` is a space, `%XX` are UTF-8
 * bytes, malformed escapes stay as they are). Unlike `URLSearchParams`, a
 * leading `?` is kept: it is part of the first name in a body.
 */
export function parseFormFields(body: Uint8Array): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (body.byteLength === 0) return fields;
  for (const part of decoder.decode(body).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    fields.push([percentDecode(name), percentDecode(value)]);
  }
  return fields;
}

/**
 * Fields encoded back into a form body, in their order, the way browsers and
 * `URLSearchParams` encode forms (`+` for spaces, `%XX` for UTF-8 bytes).
 *
 * For an app whose body parser ran before idem (Express with
 * `express.urlencoded()` mounted first) only the decoded fields are left. idem
 * fingerprints bodies as raw bytes (SPEC §3), so it rebuilds them: for forms
 * encoded the standard way the result is the very bytes the client sent, and
 * identical requests always give identical bytes.
 */
export function encodeFormFields(fields: Iterable<readonly [string, string]>): Uint8Array {
  const params = new URLSearchParams();
  for (const [name, value] of fields) params.append(name, value);
  return utf8(params.toString());
}

function percentDecode(text: string): string {
  const plus = text.replaceAll('+', ' ');
  if (!plus.includes('%')) return plus;
  const bytes = utf8(plus);
  const out = new Uint8Array(bytes.byteLength);
  let n = 0;
  for (let i = 0; i < bytes.byteLength; i++) {
    const high = i + 2 < bytes.byteLength ? hexValue(bytes[i + 1]!) : -1;
    const low = high === -1 ? -1 : hexValue(bytes[i + 2]!);
    if (bytes[i] === 0x25 && low !== -1) {
      out[n++] = high * 16 + low;
      i += 2;
    } else {
      out[n++] = bytes[i]!;
    }
  }
  return decoder.decode(out.subarray(0, n));
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}
