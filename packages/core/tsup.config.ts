import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base.ts';

export default defineConfig({
  ...packageBuild({
    index: 'src/index.ts',
    store: 'src/store.ts',
    http: 'src/http.ts',
    node: 'src/node.ts',
    // Both implementations of `#native-sha256`; package.json's `imports`
    // picks one where the app runs, so it stays an import in every entry.
    'native-sha256-node': 'src/native-sha256/node.ts',
    'native-sha256-web': 'src/native-sha256/web.ts',
  }),
  external: ['#native-sha256'],
});
