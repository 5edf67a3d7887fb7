import { relative } from 'node:path';
import ts from 'typescript';
import {
  type DeclarationIndex,
  indexDeclarations,
  printDeclaration,
  stripComments,
} from './declarations.js';
import type { Entry } from './entries.js';

// Resolution as in tsconfig.base.json: workspace imports land on the sources
// through the `@idem/source` condition, so no package needs building first.
const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  customConditions: ['@idem/source'],
  strict: true,
  skipLibCheck: true,
  noEmit: true,
  // Resolving exports needs neither the standard library nor ambient types,
  // and reading them (the DOM's above all) is most of the time otherwise.
  noLib: true,
  types: [],
};

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => '\n',
  });
}

/** Reads declarations of source files as their d.ts shows them, once per file. */
class Declarations {
  readonly #cache = new Map<string, DeclarationIndex>();

  of(file: ts.SourceFile): DeclarationIndex {
    let index = this.#cache.get(file.fileName);
    if (index === undefined) {
      const dts = file.isDeclarationFile ? file.text : this.#transpile(file);
      const name = file.fileName.replace(/\.[cm]?tsx?$/, '.d.ts');
      const clean = stripComments(name, dts);
      index = indexDeclarations(ts.createSourceFile(name, clean, ts.ScriptTarget.Latest, true));
      this.#cache.set(file.fileName, index);
    }
    return index;
  }

  // The repository compiles with isolatedDeclarations, so each file's d.ts
  // is what tsup ships without a type check of the whole program.
  #transpile(file: ts.SourceFile): string {
    const { outputText, diagnostics = [] } = ts.transpileDeclaration(file.text, {
      fileName: file.fileName,
      compilerOptions: OPTIONS,
      reportDiagnostics: true,
    });
    if (diagnostics.length > 0) {
      throw new Error(
        `cannot read the declarations of ${file.fileName}:\n${formatDiagnostics(diagnostics)}`,
      );
    }
    return outputText;
  }
}

interface Exported {
  readonly name: string;
  readonly target: ts.Symbol;
  readonly typeOnly: boolean;
}

// Case-insensitive, then by code point: stable on every machine and locale.
function byName(a: string, b: string): number {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
}

function resolveExport(checker: ts.TypeChecker, symbol: ts.Symbol): Exported {
  let target = symbol;
  let typeOnly = false;
  while (target.flags & ts.SymbolFlags.Alias) {
    typeOnly ||= (target.declarations ?? []).some(ts.isTypeOnlyImportOrExportDeclaration);
    target = checker.getImmediateAliasedSymbol(target) ?? checker.getAliasedSymbol(target);
  }
  return { name: symbol.name, target, typeOnly };
}

function printExport(
  entry: Entry,
  exported: Exported,
  all: ReadonlySet<string>,
  declarations: Declarations,
): string {
  const { name, target } = exported;
  // `export default idempotency` next to `export { idempotency }`: say so, once.
  if (name === 'default' && all.has(target.name)) return `export default ${target.name};`;
  const nodes = target.declarations ?? [];
  if (nodes.length === 0) {
    throw new Error(
      `${entry.specifier}: its export \`${name}\` resolves to nothing (tsc -b says why)`,
    );
  }
  if (nodes.some(ts.isSourceFile)) {
    throw new Error(
      `${entry.specifier}: \`export * as ${name}\` is not reported yet; export its members instead`,
    );
  }
  const printed: string[] = [];
  for (const file of new Set(nodes.map((node) => node.getSourceFile()))) {
    for (const node of declarations.of(file).get(target.name) ?? []) {
      printed.push(printDeclaration(node, name));
    }
  }
  if (printed.length === 0) {
    throw new Error(`${entry.specifier}: no declaration found for its export \`${name}\``);
  }
  const note =
    exported.typeOnly && target.flags & ts.SymbolFlags.Value ? '// exported as a type only\n' : '';
  return note + printed.join('\n');
}

/**
 * The markdown report of each entry's public API, keyed by report path: every
 * exported name sorted, each with its declaration as the d.ts shows it (types
 * it mentions appear by name), comments stripped but `@deprecated` and
 * `@internal` markers.
 *
 * @param root The repository root, for the paths the reports mention.
 * @throws Error when a source cannot be read or an export cannot be printed.
 */
export function renderReports(root: string, entries: readonly Entry[]): Map<string, string> {
  const program = ts.createProgram(
    entries.map((entry) => entry.source),
    OPTIONS,
  );
  const checker = program.getTypeChecker();
  const declarations = new Declarations();
  const reports = new Map<string, string>();
  for (const entry of entries) {
    const file = program.getSourceFile(entry.source);
    if (file === undefined) throw new Error(`${entry.specifier}: cannot read ${entry.source}`);
    const module = checker.getSymbolAtLocation(file);
    const symbols = module ? checker.getExportsOfModule(module) : [];
    const names = new Set(symbols.map((symbol) => symbol.name));
    const body = symbols
      .map((symbol) => resolveExport(checker, symbol))
      .sort((a, b) => byName(a.name, b.name))
      .map((exported) => printExport(entry, exported, names, declarations))
      .join('\n\n');
    const condition = entry.condition ? ` (\`${entry.condition}\` condition)` : '';
    reports.set(
      entry.report,
      [
        `# \`${entry.specifier}\`${condition}: public API`,
        '',
        `Generated by tools/api-report from \`${relative(root, entry.source)}\`. Do not edit:`,
        'run `npx -y pnpm@10 api:update` and commit the result with the change.',
        '',
        '```ts',
        body,
        '```',
        '',
      ].join('\n'),
    );
  }
  return reports;
}
