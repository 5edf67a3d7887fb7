/**
 * The known name closest to a misspelt one (`stor` → `store`, `leaseMS` →
 * `leaseMs`, `timeout` → `attemptTimeoutMs`), or `undefined` when none is
 * close enough to be a plausible slip.
 */
export function closest(typed: string, known: readonly string[]): string | undefined {
  const lower = typed.toLowerCase();
  let best: string | undefined;
  // At most a third of the name may be wrong (two letters for short names).
  let most = Math.max(2, lower.length / 3);
  for (const name of known) {
    const candidate = name.toLowerCase();
    // A part of the name (`timeout`, `table`) is as close as a one-letter slip.
    const score = lower.length > 3 && candidate.includes(lower) ? 1 : distance(lower, candidate);
    // Strictly closer wins, so the first of equally close names is kept.
    if (score <= most) [best, most] = [name, score - 0.5];
  }
  return best;
}

/** Levenshtein distance: the fewest one-letter edits that turn `a` into `b`. */
export function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 0; i < a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i + 1;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
