import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A line of a Markdown file that readers see as prose: outside code fences and HTML comments. */
export interface ProseLine {
  /** The Markdown file, relative to the repository root. */
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  readonly text: string;
}

/**
 * The prose lines of `file`: fenced code and `<!-- … -->` comments (the
 * hidden ts-prelude of a block among them) are left out, since neither holds
 * links or names a reader follows.
 */
export function proseLines(root: string, file: string): ProseLine[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const prose: ProseLine[] = [];
  let fence: string | undefined;
  let inComment = false;
  for (let i = 0; i < lines.length; i++) {
    let text = lines[i]!;
    if (fence !== undefined) {
      if (text.trim().startsWith(fence)) fence = undefined;
      continue;
    }
    const opening = /^\s*(`{3,}|~{3,})/.exec(text);
    if (opening && !inComment) {
      fence = opening[1]!;
      continue;
    }
    if (inComment) {
      const end = text.indexOf('-->');
      if (end < 0) continue;
      inComment = false;
      text = text.slice(end + 3);
    }
    // A comment that opens and closes on the line is dropped; one that runs on is skipped to its end.
    text = text.replace(/<!--.*?-->/g, '');
    const start = text.indexOf('<!--');
    if (start >= 0) {
      inComment = true;
      text = text.slice(0, start);
    }
    prose.push({ file, line: i + 1, text });
  }
  return prose;
}

/** The contents of the inline code spans of a prose line (single-backtick spans). */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/(?<!`)`([^`]+)`(?!`)/g)].map((m) => m[1]!);
}

/** A prose line without its inline code spans, where link syntax is literal text. */
export function withoutCodeSpans(text: string): string {
  return text.replace(/`+[^`]*`+/g, '``');
}
