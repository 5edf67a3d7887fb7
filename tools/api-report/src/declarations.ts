import ts from 'typescript';

// A JSDoc block carrying one of these keeps a one-line marker in the report;
// every other comment goes, so that rewording documentation changes no report.
// A tag's text runs to the next tag line or the end of the block.
const MARKERS = /@(deprecated|internal)\b((?:(?!\n\s*\*\s*@)[\s\S])*)/g;

function marker(comment: string): string {
  const tags = [...comment.matchAll(MARKERS)].map(([, tag, text]) => {
    const words = text!
      .replace(/\*\/$/, '')
      .replace(/^\s*\*/gm, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    return `@${tag}${words ? ` ${words}` : ''}`;
  });
  return tags.length > 0 ? `/** ${tags.join(' ')} */` : '';
}

function commentRanges(file: ts.SourceFile): ts.CommentRange[] {
  const byStart = new Map<number, ts.CommentRange>();
  const visit = (node: ts.Node): void => {
    for (const range of [
      ...(ts.getLeadingCommentRanges(file.text, node.pos) ?? []),
      ...(ts.getTrailingCommentRanges(file.text, node.pos) ?? []),
    ]) {
      byStart.set(range.pos, range);
    }
    for (const child of node.getChildren(file)) visit(child);
  };
  visit(file);
  return [...byStart.values()].sort((a, b) => a.pos - b.pos);
}

/**
 * The text of a declaration file without its comments (but the markers), a
 * comment alone on its line taking the line with it. Comments are found
 * through the parsed tree, so a `//` inside a string or template type stays.
 */
export function stripComments(fileName: string, text: string): string {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  let out = '';
  let at = 0;
  for (const range of commentRanges(file)) {
    let start = range.pos;
    let end = range.end;
    const replacement = marker(text.slice(start, end));
    const lineStart = text.lastIndexOf('\n', start - 1) + 1;
    const lineEnd = text.indexOf('\n', end);
    const alone =
      text.slice(lineStart, start).trim() === '' &&
      text.slice(end, lineEnd === -1 ? text.length : lineEnd).trim() === '';
    if (alone && replacement === '') {
      start = lineStart;
      end = lineEnd === -1 ? text.length : lineEnd + 1;
    }
    out += text.slice(at, Math.max(at, start)) + replacement;
    at = Math.max(at, end);
  }
  return (out + text.slice(at)).replace(/[ \t]+$/gm, '');
}

// TypeScript's printer puts each tuple element on its own line unless told.
function singleLineTuples(node: ts.Node): void {
  if (ts.isTupleTypeNode(node)) ts.setEmitFlags(node, ts.EmitFlags.SingleLine);
  ts.forEachChild(node, singleLineTuples);
}

/** A file's declarations as users see them: its d.ts, parsed, by declared name. */
export type DeclarationIndex = ReadonlyMap<string, readonly ts.Node[]>;

/**
 * Indexes the top-level declarations of a declaration file by name; a
 * variable statement contributes each of its declarators.
 */
export function indexDeclarations(file: ts.SourceFile): DeclarationIndex {
  singleLineTuples(file);
  const index = new Map<string, ts.Node[]>();
  const add = (name: string, node: ts.Node): void => {
    index.set(name, [...(index.get(name) ?? []), node]);
  };
  for (const statement of file.statements) {
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) add(declaration.name.text, declaration);
      }
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement) ||
        ts.isModuleDeclaration(statement)) &&
      statement.name !== undefined &&
      ts.isIdentifier(statement.name)
    ) {
      add(statement.name.text, statement);
    }
  }
  return index;
}

const printer = ts.createPrinter({ newLine: ts.NewLineKind.LineFeed });

/**
 * One declaration as the report prints it: `export` and the exported name in
 * front, `declare` dropped, laid out by TypeScript's printer (so the layout of
 * the source, or of a comment that went, changes nothing).
 */
export function printDeclaration(node: ts.Node, exportedName: string): string {
  const file = node.getSourceFile();
  const named = node as ts.Node & { name?: ts.Node };
  const printed = printer.printNode(ts.EmitHint.Unspecified, node, file);
  // The markers left above the declaration (one line each, by stripComments);
  // a variable's are above its statement.
  const [, above = '', rest = ''] = /^((?:\/\*\*[^\n]*\*\/\n)*)([\s\S]*)$/.exec(printed)!;
  const markers = ts.isVariableDeclaration(node)
    ? (ts.getLeadingCommentRanges(file.text, node.parent.parent.pos) ?? [])
        .map((range) => `${file.text.slice(range.pos, range.end)}\n`)
        .join('')
    : above;
  let text = rest;
  if (named.name !== undefined && ts.isIdentifier(named.name) && exportedName !== 'default') {
    // A declaration's own name is the first time its name appears in it.
    text = text.replace(new RegExp(`\\b${named.name.text}\\b`), exportedName);
  }
  const prefix = exportedName === 'default' ? 'export default' : 'export';
  if (ts.isVariableDeclaration(node)) {
    const flags = node.parent.flags;
    const keyword = flags & ts.NodeFlags.Const ? 'const' : flags & ts.NodeFlags.Let ? 'let' : 'var';
    return `${markers}${prefix} ${keyword} ${text};`;
  }
  return `${markers}${prefix} ${text.replace(/^(export\s+)?(default\s+)?(declare\s+)?/, '')}`;
}
