/** The byte at `i` of the body the test Worker's `POST /bodies/<key>` stores, known to both sides. */
export const byteAt = (i: number): number => (i * 7 + (i >> 9)) & 0xff;
