// A line of the diff, with the (1-based) numbers its texts are at there.
type Line = {
  readonly sign: ' ' | '-' | '+';
  readonly text: string;
  readonly before: number;
  readonly after: number;
};

// Longest common subsequence over lines: reports are a few hundred lines, so
// the quadratic table stays small, and it needs no dependency.
function lineDiff(before: readonly string[], after: readonly string[]): Line[] {
  const rows = before.length + 1;
  const cols = after.length + 1;
  const lcs = new Uint32Array(rows * cols);
  for (let i = before.length - 1; i >= 0; i--) {
    for (let j = after.length - 1; j >= 0; j--) {
      lcs[i * cols + j] =
        before[i] === after[j]
          ? lcs[(i + 1) * cols + j + 1]! + 1
          : Math.max(lcs[(i + 1) * cols + j]!, lcs[i * cols + j + 1]!);
    }
  }
  const lines: Line[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    if (i < before.length && j < after.length && before[i] === after[j]) {
      lines.push({ sign: ' ', text: before[i++]!, before: i, after: ++j });
    } else if (
      i < before.length &&
      (j === after.length || lcs[(i + 1) * cols + j]! >= lcs[i * cols + j + 1]!)
    ) {
      lines.push({ sign: '-', text: before[i++]!, before: i, after: j + 1 });
    } else {
      lines.push({ sign: '+', text: after[j++]!, before: i + 1, after: j });
    }
  }
  return lines;
}

/**
 * A unified-style diff of two texts: each line shown as `  `, `- ` or `+ `
 * and its text, each hunk under `@@ -<line before> +<line after> @@`; an
 * empty string when they are equal.
 *
 * @param context Unchanged lines shown around a change. @default 2
 */
export function unifiedDiff(before: string, after: string, context = 2): string {
  const lines = lineDiff(before.split('\n'), after.split('\n'));
  const shown = lines.map((_line, index) =>
    lines
      .slice(Math.max(0, index - context), index + context + 1)
      .some((near) => near.sign !== ' '),
  );
  const out: string[] = [];
  lines.forEach((line, index) => {
    if (!shown[index]) return;
    if (index === 0 || !shown[index - 1]) out.push(`@@ -${line.before} +${line.after} @@`);
    out.push(`${line.sign} ${line.text}`);
  });
  return out.join('\n');
}
