import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Every HTTP adapter is a translation: core (`@idem/core/http`,
 * `@idem/core/node`) makes every decision and its order, the adapter hands
 * it the request's facts and carries out the answer. Two things would give a
 * decision away in an adapter's source: an HTTP status written in it (a
 * status picked), and an import of anything but core's public entry points
 * (the engine driven directly, its checks ordered by hand).
 */

const ROOT = new URL('../../../', import.meta.url).pathname;
const ADAPTERS = ['hono', 'express', 'fastify', 'koa', 'web'];
const CORE_ENTRIES = new Set(['@idem/core', '@idem/core/http', '@idem/core/node']);

interface Finding {
  readonly line: number;
  readonly what: string;
}

/** What in `source` would be a protocol decision: status literals and imports past core's entry points. */
export function decisions(fileName: string, source: string): Finding[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const found: Finding[] = [];
  const at = (node: ts.Node) => file.getLineAndCharacterOfPosition(node.getStart()).line + 1;
  const visit = (node: ts.Node) => {
    if (ts.isNumericLiteral(node)) {
      const value = Number(node.text);
      if (Number.isInteger(value) && value >= 100 && value <= 599) {
        found.push({ line: at(node), what: `status-like literal ${node.text}` });
      }
    }
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      const from = node.moduleSpecifier;
      if (from && ts.isStringLiteral(from) && from.text.startsWith('@idem/')) {
        if (!CORE_ENTRIES.has(from.text))
          found.push({ line: at(node), what: `import ${from.text}` });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

function sources(adapter: string): string[] {
  const dir = join(ROOT, 'packages', adapter, 'src');
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts')).map((n) => join(dir, n));
}

describe('adapters translate, core decides', () => {
  it('finds a status picked and an engine driven by hand (the check has teeth)', () => {
    const flawed = [
      "import { createEngine } from '@idem/core/src/engine/engine.js';",
      "if (!key) return new Response('no key', { status: 400 });",
    ].join('\n');
    expect(decisions('flawed.ts', flawed).map((f) => f.what)).toEqual([
      'import @idem/core/src/engine/engine.js',
      'status-like literal 400',
    ]);
  });

  const counts: Record<string, number> = {};
  for (const adapter of ADAPTERS) {
    it(`@idem/${adapter}: no status literal, core's entry points only`, () => {
      const files = sources(adapter);
      expect(files.length, `packages/${adapter}/src has no sources`).toBeGreaterThan(0);
      let lines = 0;
      const found: string[] = [];
      for (const file of files) {
        const text = readFileSync(file, 'utf8');
        lines += text.split('\n').length;
        for (const f of decisions(file, text))
          found.push(`${file.slice(ROOT.length)}:${f.line} ${f.what}`);
      }
      counts[adapter] = lines;
      expect(found).toEqual([]);
    });
  }
  it("reports each adapter's size", () => {
    // The closing figures: lines of each adapter's sources, tests excluded.
    console.log(`adapter source lines: ${JSON.stringify(counts)}`);
    expect(Object.keys(counts).length).toBeGreaterThan(0);
  });
});
