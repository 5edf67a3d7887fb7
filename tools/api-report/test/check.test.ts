import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkReports, updateReports } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

const INDEX = `
import type { Shape } from './shape.js';
export type { Shape } from './shape.js';

/** The widget's options. Rewording this changes no report. */
export interface WidgetOptions {
  /** How big. @default 1 */
  readonly size?: number;
  /**
   * For the tests of this package only.
   * @internal
   */
  readonly seed?: number;
}

/**
 * Makes a widget.
 * @deprecated Use {@link Widget} directly.
 */
export function makeWidget(options: WidgetOptions = {}): Widget {
  return new Widget(options.size ?? 1);
}

export class Widget {
  #secret = 1;
  constructor(readonly size: number) {}
  area(shape: Shape): number {
    return this.size * this.#secret * (shape === 'square' ? 1 : 0.5);
  }
}

export const DEFAULT_SIZE = 1;
export { makeWidget as createWidget };
export type { Widget as WidgetType };
`;

let root: string;

function write(path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

function read(path: string): string {
  return readFileSync(join(root, path), 'utf8');
}

function edit(path: string, from: string, to: string): void {
  const text = read(path);
  expect(text).toContain(from);
  write(path, text.replace(from, to));
}

function exportsOf(entries: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(entries).map(([entry, source]) => [entry, { '@idem/source': source }]),
  );
}

function widgetPackage(entries: Record<string, string>): string {
  const exports = { ...exportsOf(entries), './package.json': './package.json' };
  return JSON.stringify({ name: '@fixture/widget', type: 'module', exports });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'api-report-'));
  write('packages/widget/package.json', widgetPackage({ '.': './src/index.ts' }));
  write('packages/widget/src/index.ts', INDEX);
  write('packages/widget/src/shape.ts', "export type Shape = 'square' | 'triangle';\n");
  // A private package has no reports: nobody imports it.
  write('packages/internal/package.json', JSON.stringify({ name: 'internal', private: true }));
  expect(updateReports(root)).toEqual(['packages/widget/api/index.api.md']);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('the report', () => {
  it('lists every export sorted, as its declaration reads, without documentation', () => {
    const report = read('packages/widget/api/index.api.md');
    expect(report).toContain('# `@fixture/widget`: public API');
    const body = report.slice(report.indexOf('```ts\n') + 6, report.lastIndexOf('```'));
    expect(body).toBe(
      `/** @deprecated Use {@link Widget} directly. */
export function createWidget(options?: WidgetOptions): Widget;

export const DEFAULT_SIZE = 1;

/** @deprecated Use {@link Widget} directly. */
export function makeWidget(options?: WidgetOptions): Widget;

export type Shape = 'square' | 'triangle';

export class Widget {
    #private;
    readonly size: number;
    constructor(size: number);
    area(shape: Shape): number;
}

export interface WidgetOptions {
    readonly size?: number;
    /** @internal */
    readonly seed?: number;
}

// exported as a type only
export class WidgetType {
    #private;
    readonly size: number;
    constructor(size: number);
    area(shape: Shape): number;
}
`,
    );
  });

  it('changes with neither a comment nor the layout of the source', () => {
    edit('packages/widget/src/index.ts', 'How big. @default 1', 'Its size,\n   * in units.');
    edit(
      'packages/widget/src/index.ts',
      'area(shape: Shape): number {',
      'area(\n  shape: Shape,\n): number {',
    );
    expect(checkReports(root)).toEqual([]);
  });
});

describe('the check', () => {
  it('passes when the API is unchanged', () => {
    expect(checkReports(root)).toEqual([]);
  });

  it('catches an added export', () => {
    write('packages/widget/src/index.ts', `${INDEX}export function added(): void {}\n`);
    const [problem, ...others] = checkReports(root);
    expect(others).toEqual([]);
    expect(problem).toMatchObject({ report: 'packages/widget/api/index.api.md', kind: 'changed' });
    expect(problem!.detail).toContain('+ export function added(): void;');
    expect(problem!.detail).not.toMatch(/^- /m);
  });

  it('catches a removed export', () => {
    edit('packages/widget/src/index.ts', 'export const DEFAULT_SIZE = 1;', '');
    const [problem] = checkReports(root);
    expect(problem?.kind).toBe('changed');
    expect(problem!.detail).toContain('- export const DEFAULT_SIZE = 1;');
    expect(problem!.detail).not.toMatch(/^\+ /m);
  });

  it('catches a changed signature, also of a type it re-exports from another file', () => {
    edit('packages/widget/src/index.ts', 'area(shape: Shape)', 'area(shape: Shape, scale: number)');
    edit('packages/widget/src/shape.ts', "'triangle'", "'triangle' | 'circle'");
    const [problem] = checkReports(root);
    expect(problem!.detail).toContain('-     area(shape: Shape): number;');
    expect(problem!.detail).toContain('+     area(shape: Shape, scale: number): number;');
    expect(problem!.detail).toContain("+ export type Shape = 'square' | 'triangle' | 'circle';");
  });

  it('catches an entry without a report and a report without an entry', () => {
    write(
      'packages/widget/package.json',
      widgetPackage({ '.': './src/index.ts', './shapes/all': './src/shape.ts' }),
    );
    write('packages/widget/api/gone.api.md', 'an entry that was removed\n');
    expect(checkReports(root).map(({ report, kind }) => ({ report, kind }))).toEqual([
      { report: 'packages/widget/api/shapes-all.api.md', kind: 'missing' },
      { report: 'packages/widget/api/gone.api.md', kind: 'orphan' },
    ]);
    expect(updateReports(root).sort()).toEqual([
      'packages/widget/api/gone.api.md',
      'packages/widget/api/shapes-all.api.md',
    ]);
    expect(checkReports(root)).toEqual([]);
  });

  it('exits 1 from the command line, naming the report and the fix', () => {
    const run = () =>
      spawnSync(process.execPath, ['--import', 'tsx', CLI, 'check', root], {
        cwd: REPO,
        encoding: 'utf8',
      });
    // One spawn (tsx and TypeScript load in about 8 s): the in-process checks
    // above prove the passing case; this one proves the exit code and the words.
    edit('packages/widget/src/index.ts', 'size?: number', 'size?: number | string');
    const failed = run();
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain('packages/widget/api/index.api.md: changed');
    expect(failed.stderr).toContain('+     readonly size?: number | string;');
    expect(failed.stderr).toContain('run `npx -y pnpm@10 api:update` and commit the report');
  });
});
