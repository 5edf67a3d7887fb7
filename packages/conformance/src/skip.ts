/** The skip options both suites take. */
export interface SkipOptions {
  readonly skipGroups?: Readonly<Partial<Record<string, string>>>;
  readonly skipChecks?: Readonly<Record<string, string>>;
}

/**
 * Why `check` is left out (its group's reason first, then its own, then the
 * check's: an option it needs was not given), or `undefined` when it runs.
 */
export function skipReason(
  options: SkipOptions,
  check: { readonly group: string; readonly name: string; readonly skip?: string },
): string | undefined {
  return (
    options.skipGroups?.[check.group] || options.skipChecks?.[check.name] || check.skip || undefined
  );
}

/**
 * Refuse `skipChecks` entries that name no check: a typo, or a check renamed
 * since, would otherwise run (or stay skipped) without anyone noticing.
 *
 * @param suite Names the suite in the error, e.g. `'httpSuite'`.
 * @param names Every check's name.
 */
export function assertKnownChecks(
  suite: string,
  skipChecks: Readonly<Record<string, string>> | undefined,
  names: readonly string[],
): void {
  const known = new Set(names);
  const unknown = Object.keys(skipChecks ?? {}).filter((name) => !known.has(name));
  if (unknown.length === 0) return;
  throw new Error(
    `${suite}: skipChecks names no check: ${unknown.map((n) => JSON.stringify(n)).join(', ')}. Use the check's name as its test title shows it, without the group and its colon, e.g. ${JSON.stringify(names[0])}.`,
  );
}
