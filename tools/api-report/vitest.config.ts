import { defineProject } from 'vitest/config';
import { tierTest } from '../../vitest.shared.ts';

export default defineProject({ test: tierTest('api-report') });
