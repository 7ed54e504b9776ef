import { defineConfig } from 'vitest/config'
import { sourceResolution } from '../../../../vitest.source.ts'

// The store suites that need a running PostgreSQL or Redis:
//   npx vitest run --config packages/server/src/stores/vitest.services.config.ts
// URLs: BASTION_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
//       BASTION_TEST_REDIS_URL    (default redis://127.0.0.1:6379)
export default defineConfig({
  ...sourceResolution,
  test: {
    root: new URL('../../../../', import.meta.url).pathname,
    include: ['{packages,apps}/**/*.pg.test.ts', '{packages,apps}/**/*.redis.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
