import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/**
 * How a block is compiled: strict TypeScript as a user would write it,
 * resolving `@idem/*` to the packages' sources.
 */
export const docsCompilerOptions: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  customConditions: ['@idem/source'],
  types: ['node'],
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  // NestJS's decorators are the legacy ones: a Nest project compiles with
  // this on (its CLI's tsconfig), and no other block uses decorators.
  experimentalDecorators: true,
};

/** A `ts` code block of a Markdown file, with the hidden prelude that declares its free names. */
export interface DocBlock {
  /** The Markdown file, relative to the repository root. */
  readonly file: string;
  /** The line of the block's first code line in that file (1-based). */
  readonly line: number;
  /** Lines that precede the code, unseen by readers: imports and `declare`s of the block's free names. */
  readonly prelude: string;
  readonly code: string;
}

/**
 * The Markdown files whose code users copy: the README, CONTRIBUTING, docs/,
 * and every package's and app's README.
 */
export function docFiles(root: string): string[] {
  const files = ['README.md', 'CONTRIBUTING.md'];
  // docs/ and its folders (docs/runtimes/: one guide per framework and runtime).
  for (const name of readdirSync(join(root, 'docs'), { recursive: true }) as string[]) {
    if (name.endsWith('.md')) files.push(`docs/${name}`);
  }
  for (const dir of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, dir))) {
      try {
        readFileSync(join(root, dir, name, 'README.md'));
        files.push(`${dir}/${name}/README.md`);
      } catch {
        // no README
      }
    }
  }
  return files;
}

const PRELUDE_START = /^<!--\s*ts-prelude\s*$/;

/**
 * Every ```ts block of `file`. A block may be preceded (blank lines allowed)
 * by a comment holding its prelude, which readers never see:
 *
 * ```md
 * <!-- ts-prelude
 * import { Hono } from 'hono';
 * declare const app: Hono;
 * -->
 * ```
 */
export function docBlocks(root: string, file: string): DocBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  let prelude: string[] | undefined;
  let pendingPrelude = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (prelude) {
      if (line.trim() === '-->') {
        pendingPrelude = prelude.join('\n');
        prelude = undefined;
      } else {
        prelude.push(line);
      }
      continue;
    }
    if (PRELUDE_START.test(line.trim())) {
      prelude = [];
      continue;
    }
    const fence = /^(\s*)```(\w*)/.exec(line);
    if (!fence) {
      if (line.trim() !== '') pendingPrelude = '';
      continue;
    }
    const indent = fence[1]!;
    const code: string[] = [];
    const start = i + 1;
    for (i++; i < lines.length && !lines[i]!.startsWith(`${indent}\`\`\``); i++) {
      code.push(lines[i]!.slice(indent.length));
    }
    if (fence[2] === 'ts') {
      blocks.push({
        file: relative(root, join(root, file)),
        line: start + 1,
        prelude: pendingPrelude,
        code: code.join('\n'),
      });
    }
    pendingPrelude = '';
  }
  return blocks;
}
