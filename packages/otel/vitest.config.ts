import { readFileSync } from 'node:fs';
import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

const { version } = JSON.parse(readFileSync(new URL('package.json', import.meta.url), 'utf8'));

export default defineProject({
  ...sourceConditions,
  // As tsup.config.ts does for the build: the instrumentation scope's version.
  define: { __IDEM_OTEL_VERSION__: JSON.stringify(version) },
  test: tierTest('otel'),
});
