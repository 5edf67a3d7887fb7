/**
 * JSON with bytes: how store calls and their results cross the service
 * binding between the test (Node) and the Worker. `Uint8Array`s (bodies)
 * travel as `{ "$bytes": base64 }`; the value is wrapped so `undefined`
 * (a `read` that found nothing) survives.
 */
export function encode(value: unknown): string {
  return JSON.stringify({ value }, function (this: Record<string, unknown>, key, v) {
    // `this[key]`, not `v`: a Node Buffer has already been through its toJSON.
    const raw = this[key];
    return raw instanceof Uint8Array ? { $bytes: toBase64(raw) } : v;
  });
}

/** The inverse of {@link encode}. */
export function decode(text: string): unknown {
  return JSON.parse(text, (_key, v) =>
    v !== null && typeof v === 'object' && typeof v.$bytes === 'string' ? fromBase64(v.$bytes) : v,
  ).value;
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
