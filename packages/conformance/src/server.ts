import { env } from './env.js';

/**
 * Check that a test server (Redis, PostgreSQL, …) answers before a suite uses it.
 *
 * Locally, an unreachable server skips its tests with a loud banner; with
 * `CI=true` it throws instead, because a green run that tested nothing is
 * worse than a red one.
 *
 * @returns `true` when `probe` resolved, `false` when the tests should be skipped.
 */
export async function reachServer(
  name: string,
  where: string,
  probe: () => Promise<unknown>,
): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const ci = env('CI');
    if (ci === 'true' || ci === '1') {
      throw new Error(
        `${name} is not reachable at ${where} (${reason}) and CI=true: refusing to skip its tests. Start ${name} or point the test at one.`,
      );
    }
    const line = '!'.repeat(78);
    console.warn(
      `\n${line}\n!!  SKIPPING ${name} TESTS: ${name} is not reachable at ${where}\n!!  (${reason})\n!!  Start ${name} to run them; with CI=true this is a failure.\n${line}\n`,
    );
    return false;
  }
}
