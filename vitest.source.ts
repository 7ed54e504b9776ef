import { defaultClientConditions, defaultServerConditions } from 'vite'

/**
 * Inside this repository the packages resolve to their TypeScript sources
 * (the `@bastion/source` export condition), not to a `dist/` that may be
 * stale or missing; what `npm pack` ships is tested from the tarball
 * (scripts/pack-check.mjs). Node processes the tests spawn get the same with
 * `--conditions=@bastion/source`.
 */
export const SOURCE_CONDITION = '@bastion/source'
export const sourceResolution = {
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions], externalConditions: [SOURCE_CONDITION] } },
}
