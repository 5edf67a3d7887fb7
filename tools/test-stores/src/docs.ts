/**
 * `@idem/test-stores/docs`: type-check the TypeScript blocks of a README, so
 * every code block a user copies compiles against the package's sources.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';

/**
 * Type-check every ```ts block of a Markdown file, each as an ES module of its
 * own placed beside the file (so it resolves the package's dependencies and
 * the package itself through its `@idem/source` export). Returns one line per
 * error (`block N, line L: message`), none when all compile.
 */
export function typecheckCodeBlocks(markdownFile: string): string[] {
  const markdown = readFileSync(markdownFile, 'utf8');
  const blocks = [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  if (blocks.length === 0) return [`${markdownFile} has no ts code block`];
  const dir = dirname(markdownFile);
  const sources = new Map(blocks.map((code, i) => [join(dir, `__readme_block_${i + 1}.ts`), code]));
  const options: ts.CompilerOptions = {
    noEmit: true,
    strict: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ['@idem/source'],
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => {
    const code = sources.get(name);
    return code === undefined
      ? getSourceFile.call(host, name, language, ...rest)
      : ts.createSourceFile(name, code, language);
  };
  host.fileExists = (name) => sources.has(name) || fileExists.call(host, name);
  host.readFile = (name) => sources.get(name) ?? readFile.call(host, name);
  const program = ts.createProgram([...sources.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return message;
    const block = [...sources.keys()].indexOf(d.file.fileName) + 1;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${block > 0 ? `block ${block}` : d.file.fileName}, line ${line + 1}: ${message}`;
  });
}
