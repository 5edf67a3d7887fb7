import { DefaultReporter, type TestModule, type TestSpecification } from 'vitest/node';

/** What one project (package or app) ran. */
interface Tally {
  files: number;
  done: number;
  passed: number;
  failed: number;
  skipped: number;
  /** Files that failed outside their tests (a hook, an uncaught error). */
  broken: number;
  /** Sum of its files' durations, in ms (files run side by side, so more than wall time). */
  ms: number;
}

/**
 * Vitest's default reporter with one line per package instead of one per
 * file: a package's line is printed as soon as its last file finishes, and a
 * failing file is still reported in full (its failed tests and errors), as are
 * the summary and every error at the end.
 */
export default class PackageReporter extends DefaultReporter {
  private readonly tallies = new Map<string, Tally>();

  override onTestRunStart(specifications: readonly TestSpecification[]): void {
    super.onTestRunStart(specifications);
    this.tallies.clear();
    for (const spec of specifications) this.tally(spec.project.name).files++;
  }

  override printTestModule(testModule: TestModule): void {
    const state = testModule.state();
    if (state === 'queued' || state === 'pending') return;
    // A failed file keeps the default report: which tests failed, with their titles.
    if (state === 'failed') super.printTestModule(testModule);
    const name = testModule.project.name;
    const t = this.tally(name);
    t.done++;
    if (state === 'failed') t.broken++;
    t.ms += testModule.diagnostic().duration;
    for (const test of testModule.children.allTests()) {
      const result = test.result().state;
      if (result === 'passed') t.passed++;
      else if (result === 'failed') t.failed++;
      else t.skipped++;
    }
    if (t.done === t.files) this.log(this.line(name, t));
  }

  private tally(name: string): Tally {
    let t = this.tallies.get(name);
    if (!t) {
      t = { files: 0, done: 0, passed: 0, failed: 0, skipped: 0, broken: 0, ms: 0 };
      this.tallies.set(name, t);
    }
    return t;
  }

  private line(name: string, t: Tally): string {
    const mark = t.failed || t.broken ? '✗' : '✓';
    const counts = [
      `${t.passed} passed`,
      t.failed ? `${t.failed} failed` : '',
      t.skipped ? `${t.skipped} skipped` : '',
    ].filter(Boolean);
    const files = `${t.files} file${t.files === 1 ? '' : 's'}`;
    return ` ${mark} ${name.padEnd(22)} ${files.padEnd(9)} ${counts.join(', ').padEnd(34)} ${(t.ms / 1000).toFixed(1)} s`;
  }
}
