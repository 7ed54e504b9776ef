import { defineConfig } from 'vitest/config'
import { sourceResolution } from './vitest.source.ts'

// One runner for the whole workspace; the suites that need outside services
// (PostgreSQL, Redis, Chromium) are selected by scripts/test.mjs, not here.
export default defineConfig({
  ...sourceResolution,
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/src/**/*.test.tsx', 'apps/*/src/**/*.test.ts', 'examples/*/src/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/*.pg.test.ts', '**/*.redis.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
