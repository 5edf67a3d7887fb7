/**
 * When to retry and how long to wait: pure functions, property-tested in
 * retry.test.ts.
 */

/**
 * How long a `Retry-After` header asks the client to wait, in milliseconds:
 * delay-seconds (`120`) or an HTTP date (RFC 9110 §10.2.3). `undefined` when
 * the header is absent or not valid (then the client's own backoff applies);
 * a date in the past is 0.
 *
 * @param now The current time in ms since the epoch (the client's clock: the
 * server's `Date` header is not readable cross-origin in browsers).
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  // 1*DIGIT only: "1.5", "-1" and "1e3" are not delay-seconds.
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = parseHttpDate(text, now);
  return date === undefined ? undefined : Math.max(0, date - now);
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
// The three forms RFC 9110 §5.6.7 requires recipients to accept. Date.parse is
// not used: it accepts almost anything ("1.5" is a date in 2001 for V8).
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d\\d) ([A-Z][a-z]{2}) (\\d{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^${DAY}[a-z]*, (\\d\\d)-([A-Z][a-z]{2})-(\\d\\d) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^${DAY} ([A-Z][a-z]{2}) ([ \\d]\\d) ${TIME} (\\d{4})$`);

/** An HTTP date in ms since the epoch, or `undefined` when `text` is not one. */
export function parseHttpDate(text: string, now: number): number | undefined {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(m[3]!, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = RFC850.exec(text);
  if (m) {
    // A two-digit year more than 50 years ahead is the latest past year with those digits.
    const thisYear = new Date(now).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(String(year), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME.exec(text);
  if (m) return utc(m[6]!, m[1]!, m[2]!.trim(), m[3]!, m[4]!, m[5]!);
  return undefined;
}

function utc(year: string, month: string, day: string, h: string, min: string, s: string) {
  const index = MONTHS.indexOf(month);
  if (index % 3 !== 0 || Number(h) > 23 || Number(min) > 59 || Number(s) > 60) return undefined;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const midnight = new Date(0).setUTCFullYear(Number(year), index / 3, Number(day));
  // A day the month does not have (Feb 30) would roll over into the next month.
  if (new Date(midnight).getUTCDate() !== Number(day)) return undefined;
  return midnight + ((Number(h) * 60 + Number(min)) * 60 + Number(s)) * 1000;
}

/**
 * Exponential backoff with full jitter (a uniform draw between 0 and the
 * exponential ceiling), so that clients that failed together do not retry
 * together.
 *
 * @param retry 1 for the first retry, 2 for the second, …
 * @param random A number in [0, 1).
 * @returns A delay in [0, min(maxDelayMs, baseDelayMs · 2^(retry-1))).
 */
export function backoffDelay(
  retry: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: number,
): number {
  // The exponent stops at 52: 2^2000 is Infinity, and 0 · Infinity is NaN.
  return random * Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(retry - 1, 52));
}
