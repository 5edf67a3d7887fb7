import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { closest } from './docs-links.ts';
import { codeSpans, proseLines } from './docs-prose.ts';

/** Every name a published entry point exports, with the members a reader may write after it (`webhooks.stripe`). */
export interface KnownNames {
  /**
   * Each export's members; `undefined` for a function, whose `x.y` in the
   * docs is about what it returns (`idempotency.key`), not a property of it.
   */
  readonly exports: ReadonlyMap<string, ReadonlySet<string> | undefined>;
  /** Members of any export's type: what `run()` or `purgeExpired()` alone may name. */
  readonly members: ReadonlySet<string>;
  /** Names the TypeScript and DOM libs and Node's types declare globally (`Request`, `Uint8Array`, `Buffer`). */
  readonly globals: ReadonlySet<string>;
}

/** Every `@idem/source` file a package's `exports` map names, under any outer condition (`workerd`). */
function sourceEntries(exports: unknown, into: string[]): void {
  if (typeof exports !== 'object' || exports === null) return;
  for (const [key, value] of Object.entries(exports)) {
    if (key === '@idem/source' && typeof value === 'string') into.push(value);
    else sourceEntries(value, into);
  }
}

/** The source entry files of every published package (the private ones publish nothing). */
export function publishedEntries(root: string): string[] {
  const entries: string[] = [];
  for (const name of readdirSync(join(root, 'packages'))) {
    const dir = join(root, 'packages', name);
    let manifest: { private?: boolean; exports?: unknown };
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (manifest.private) continue;
    const found: string[] = [];
    sourceEntries(manifest.exports, found);
    for (const entry of found) entries.push(join(dir, entry));
  }
  return entries;
}

function memberNames(checker: ts.TypeChecker, type: ts.Type): string[] {
  const types = type.isUnion() || type.isIntersection() ? [type, ...type.types] : [type];
  return types.flatMap((t) => checker.getPropertiesOfType(t).map((p) => p.name));
}

/**
 * The names `entries` export, read with the compiler as a user's editor
 * sees them, and each one's members: a value's properties (a namespace
 * object's functions, a class's statics) and a type's properties.
 *
 * @param program A program holding `entries` and `globalsFile` (an empty
 *   module, whose scope shows the global names), e.g. the one that
 *   typechecks the docs' code blocks: built once, it serves both.
 */
export function knownNames(
  program: ts.Program,
  entries: readonly string[],
  globalsFile: string,
): KnownNames {
  const checker = program.getTypeChecker();
  const exports = new Map<string, Set<string> | undefined>();
  const members = new Set<string>();
  const functions = new Set<string>();
  for (const entry of entries) {
    const source = program.getSourceFile(entry);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`${entry}: the compiler found no module there`);
    for (const exported of checker.getExportsOfModule(module)) {
      const symbol =
        exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const names = exports.get(exported.name) ?? new Set<string>();
      if (symbol.flags & ts.SymbolFlags.Value) {
        const type = checker.getTypeOfSymbol(symbol);
        if (type.getCallSignatures().length > 0) functions.add(exported.name);
        else for (const name of memberNames(checker, type)) names.add(name);
      }
      if (
        symbol.flags &
        (ts.SymbolFlags.Interface | ts.SymbolFlags.Class | ts.SymbolFlags.TypeAlias)
      ) {
        for (const name of memberNames(checker, checker.getDeclaredTypeOfSymbol(symbol)))
          names.add(name);
      }
      exports.set(exported.name, names);
      for (const name of names) members.add(name);
    }
  }
  for (const name of functions) exports.set(name, undefined);
  const globals = new Set<string>();
  const file = program.getSourceFile(globalsFile)!;
  for (const symbol of checker.getSymbolsInScope(
    file,
    ts.SymbolFlags.Value | ts.SymbolFlags.Type,
  )) {
    globals.add(symbol.name);
  }
  return { exports, members, globals };
}

/**
 * Which inline code spans claim to name an export, and so must name one:
 *
 * - a PascalCase identifier (`Claim`, `ResponseNotStoredError`), alone or
 *   called: in these docs a capitalised identifier is a class or a type;
 * - a camelCase identifier named the way exports are (`createIdempotency`,
 *   `memoryStore()`, `storeSuite(options)`, `…Error`, `…Options`), unless it
 *   is a member of an export (the `shouldStore` option, the `storeError`
 *   hook);
 * - `x.y`, `x.y()` where `x` is an export other than a function: `y` must
 *   be a member of it (`webhooks.stripe`).
 *
 * Anything else in backticks (option names, methods of other libraries'
 * objects, header names, SQL, `c.req.raw`) is not on trial, nor are ALL-CAPS
 * words (`POST`, error codes, environment variables): too many of them are
 * not ours to check.
 */
const SPAN = /^([A-Za-z_$][\w$]*)((?:\.[A-Za-z_$][\w$]*)*)(\(.*\))?$/;
const PASCAL = /^[A-Z](?=[\w$]*[a-z])[\w$]*$/;
const CAMEL_EXPORT =
  /^(?:create[A-Z][\w$]*|[a-z][\w$]*[a-z0-9](?:Error|Store|Options|Suite|Checks|Hooks))$/;

/** A name found in the docs that no published entry point exports, with where it was. */
export function unknownNames(
  root: string,
  files: readonly string[],
  known: KnownNames,
  allowed: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  const candidates = [...known.exports.keys()];
  for (const file of files) {
    for (const line of proseLines(root, file)) {
      for (const span of codeSpans(line.text)) {
        const m = SPAN.exec(span.trim());
        if (!m) continue;
        const head = m[1]!;
        const member = m[2]!.split('.')[1];
        const where = `${file}:${line.line}`;
        if (known.exports.has(head)) {
          const exported = known.exports.get(head);
          if (exported && member !== undefined && !exported.has(member)) {
            const near = closest(member, exported);
            problems.push(
              `${where} \`${span}\`: ${head} has no member ${member}${near ? ` (did you mean ${head}.${near}?)` : ''}`,
            );
          }
          continue;
        }
        if (member !== undefined || allowed.has(head) || known.globals.has(head)) continue;
        const claimsExport =
          PASCAL.test(head) || (CAMEL_EXPORT.test(head) && !known.members.has(head));
        if (!claimsExport) continue;
        const near = closest(head, candidates);
        problems.push(
          `${where} \`${span}\`: no published entry point exports ${head}${near ? ` (did you mean ${near}?)` : ''}`,
        );
      }
    }
  }
  return problems;
}
