/**
 * An environment variable, on runtimes that have `process.env` (Node, Bun,
 * Deno's Node compatibility); `undefined` elsewhere (a Worker), where the
 * suites use their defaults.
 */
export function env(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[
    name
  ];
}
