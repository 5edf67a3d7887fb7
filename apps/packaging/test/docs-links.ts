import { existsSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { type ProseLine, proseLines, withoutCodeSpans } from './docs-prose.ts';

/**
 * GitHub's anchor for a heading: the rendered text lowercased, every
 * character but letters, marks, digits, `_`, `-` and spaces dropped, spaces
 * turned into hyphens (github-slugger's rule). Inline markup is rendered
 * first: code spans and emphasis keep their text, a link keeps its label.
 */
export function githubSlug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/\*+/g, '');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/**
 * The anchors of a Markdown file: one per heading (a repeated slug gets
 * `-1`, `-2`… as GitHub numbers them) and every explicit `<a id>` / `<a name>`.
 */
export function anchors(root: string, file: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const { text } of proseLines(root, file)) {
    for (const m of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) found.add(m[1]!);
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const slug = githubSlug(heading[1]!);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

/** Inline links `[label](target)`, images, and reference definitions `[label]: target`. */
function targets(line: ProseLine): string[] {
  const text = withoutCodeSpans(line.text);
  const found = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const definition = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(text);
  if (definition) found.push(definition[1]!);
  for (const m of text.matchAll(/<a\s+[^>]*href="([^"]+)"/g)) found.push(m[1]!);
  return found;
}

/**
 * Every relative link of `files` that leads nowhere: a path with no file or
 * directory behind it, or a `#fragment` that is no anchor of the Markdown
 * file it points into. Links with a scheme (`https:`, `mailto:`) are the
 * web's business, not this check's.
 */
export function brokenLinks(root: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  const anchorsOf = new Map<string, Set<string>>();
  const anchorsFor = (file: string) => {
    const cached = anchorsOf.get(file);
    if (cached) return cached;
    const found = anchors(root, file);
    anchorsOf.set(file, found);
    return found;
  };
  for (const file of files) {
    for (const line of proseLines(root, file)) {
      for (const target of targets(line)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const where = `${file}:${line.line}`;
        const hash = target.indexOf('#');
        const path = decodeURI(hash < 0 ? target : target.slice(0, hash));
        const fragment = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
        const into = path === '' ? file : normalize(join(dirname(file), path));
        if (path !== '' && !existsSync(join(root, into))) {
          problems.push(`${where} links to ${target}: there is no ${into}`);
          continue;
        }
        if (fragment === undefined || !into.endsWith('.md')) continue;
        const known = anchorsFor(into);
        if (known.has(fragment)) continue;
        const near = closest(fragment, known);
        problems.push(
          `${where} links to ${target}: ${relative(root, join(root, into))} has no heading #${fragment}${near ? ` (did you mean #${near}?)` : ''}`,
        );
      }
    }
  }
  return problems;
}

/** Levenshtein distance, for the suggestion a failure offers. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The candidate nearest to `name`, if any is near enough to be the name meant. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
