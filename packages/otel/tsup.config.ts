import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.ts';

const { version } = JSON.parse(readFileSync(new URL('package.json', import.meta.url), 'utf8'));

export default defineConfig({
  ...packageBuild({ index: 'src/index.ts' }),
  // The instrumentation scope's version (options.ts), as published.
  define: { __IDEM_OTEL_VERSION__: JSON.stringify(version) },
});
