import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hasher } from './bytes.js';

describe('sha256Hasher', () => {
  it('hashes strings as UTF-16LE and bytes as they are, small and large', async () => {
    for (const size of [10, 16 * 1024, 16 * 1024 + 1, 100_000]) {
      const body = new Uint8Array(size).map((_, i) => i & 0xff);
      const expected = createHash('sha256').update('idem:é\ud800', 'utf16le').update(body).digest();
      const hasher = () => sha256Hasher().update('idem:é\ud800').update(body);
      expect(await hasher().hex(), `size ${size}`).toBe(expected.toString('hex'));
      expect(await hasher().base64url(), `size ${size}`).toBe(expected.toString('base64url'));
    }
  });
});
