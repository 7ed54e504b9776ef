import { defineConfig } from 'vitest/config'
import { sourceResolution } from '../vitest.source.ts'

// The browser end-to-end suite: `npx vitest run --config e2e/vitest.config.ts`
// (scripts/test.mjs runs it when Chromium is present). Files run one after the
// other: each starts its own demo server and Chromium, and the machine has 2 cores.
export default defineConfig({
  ...sourceResolution,
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['e2e/**/*.e2e.test.ts'],
    exclude: ['**/node_modules/**'],
    globalSetup: ['e2e/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
