import { defineProject } from 'vitest/config';
import { sourceConditions, tierTest } from '../../vitest.shared.ts';

export default defineProject({ ...sourceConditions, test: tierTest('example-lambda') });
