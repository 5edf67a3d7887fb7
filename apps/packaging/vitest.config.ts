import { defineProject } from 'vitest/config';
import { sourceConditions } from '../../vitest.shared.ts';

// The test itself runs on sources like every other; the apps it starts are
// plain `node` processes, which load the built packages, as users do.
export default defineProject({ ...sourceConditions, test: { name: 'packaging' } });
