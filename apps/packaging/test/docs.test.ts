import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { type DocBlock, docBlocks, docFiles } from './doc-blocks.ts';

/**
 * Every `ts` code block in the README, docs/ and the packages' and apps'
 * READMEs is typechecked as a module of its own, against the packages'
 * sources, with strict TypeScript as a user would compile it. A block may
 * declare its free names (the `app` it mounts on, the handler it calls) in a
 * hidden `<!-- ts-prelude … -->` comment right before it.
 */

const root = fileURLToPath(new URL('../../..', import.meta.url));
const out = fileURLToPath(new URL('../.doc-blocks', import.meta.url));

const options: ts.CompilerOptions = {
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
};

interface Written {
  readonly block: DocBlock;
  readonly path: string;
  /** Lines before the block's code in the written file. */
  readonly offset: number;
}

function write(blocks: readonly DocBlock[]): Written[] {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  return blocks.map((block, i) => {
    const path = join(out, `${block.file.replace(/\W+/g, '_')}_${i}.ts`);
    const head = block.prelude ? `${block.prelude}\n` : '';
    writeFileSync(path, `${head}${block.code}\nexport {};\n`);
    return { block, path, offset: head === '' ? 0 : head.split('\n').length - 1 };
  });
}

describe('docs that compile', () => {
  const blocks = docFiles(root).flatMap((file) => docBlocks(root, file));

  it('finds the code blocks users copy', () => {
    expect(blocks.length).toBeGreaterThan(20);
  });

  it('every ts code block typechecks', () => {
    const written = write(blocks);
    const program = ts.createProgram(
      written.map((w) => w.path),
      options,
    );
    const byPath = new Map(written.map((w) => [w.path, w]));
    const problems: string[] = [];
    for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
      const w = diagnostic.file && byPath.get(diagnostic.file.fileName);
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      // The packages' own sources are typechecked by tsc -b, under their own
      // settings; here only the blocks are on trial.
      if (diagnostic.file && !w) continue;
      if (!w || diagnostic.start === undefined) {
        problems.push(`(global) TS${diagnostic.code}: ${message}`);
        continue;
      }
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
      const inCode = line - w.offset;
      const where =
        inCode >= 0
          ? `${w.block.file}:${w.block.line + inCode}`
          : `${w.block.file}:${w.block.line} (prelude line ${line + 1})`;
      problems.push(`${where} TS${diagnostic.code}: ${message}`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  }, 120_000);
});
