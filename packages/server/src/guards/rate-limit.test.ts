import { describe, expect, it } from 'vitest'
import { memoryRateLimits } from './rate-limit.ts'
import { describeRateLimitConformance } from '../stores/conformance.ts'

describeRateLimitConformance('memory', async () => Object.assign(memoryRateLimits(), { close: async () => {} }))

describe('memoryRateLimits', () => {
  it('stays bounded when keys are cycled (expired windows go first), and still counts', async () => {
    const limits = memoryRateLimits()
    for (let i = 0; i < 60_000; i++) await limits.hit(`user-${i}`, 1_000, 0)
    // All windows above ended at t=1000; a new key at t=2000 sweeps them.
    await limits.hit('fresh', 1_000, 2_000)
    expect((await limits.peek('user-1', 1_000, 2_000)).count).toBe(0)
    expect((await limits.hit('fresh', 1_000, 2_000)).count).toBe(2)
  })
})
