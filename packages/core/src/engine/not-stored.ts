import type { StoredResponse } from '../store/contract.js';

/** Marks a completed record whose result was too large to keep. */
const NOT_STORED_HEADER = 'idem-not-stored';

/** Whether a stored response is the "ran, result not stored" marker. */
export function isNotStoredMarker(response: StoredResponse): boolean {
  return response.headers.some(([name]) => name === NOT_STORED_HEADER);
}

/**
 * The record kept for a result that cannot be stored: it ran (so it must not
 * run again) but cannot be replayed. `size` is the body's size, or -1 if unknown.
 */
export function notStoredMarker(status: number, size: number): StoredResponse {
  return { status, headers: [[NOT_STORED_HEADER, String(size)]], body: new Uint8Array(0) };
}
