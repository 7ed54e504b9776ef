import { describe, expect, it } from 'vitest'
import { memoryRateLimits, RateLimiter } from './rate-limit.ts'
import { StoreUnavailableError } from '../errors.ts'
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

describe('RateLimiter with a shared store that is down', () => {
  // A real Redis client aimed at a port nobody listens on: every call fails as in an outage.
  const deadRedis = async () => (await import('../stores/redis/index.ts')).redisRateLimits({ url: 'redis://127.0.0.1:1' })
  const rule = { max: 3, windowSeconds: 60 }

  it('counts per instance instead (never fails open), says so once, and asks the shared store again later', async () => {
    const dead = await deadRedis()
    const states: string[] = []
    const limiter = new RateLimiter(dead, () => 1_000_000, { fallback: memoryRateLimits(), onStateChange: (s) => states.push(s), retryAfterMs: 50 })
    try {
      for (let i = 0; i < 3; i++) await limiter.consume('login:user:alice', rule)
      await expect(limiter.consume('login:user:alice', rule)).rejects.toMatchObject({ code: 'rate_limited' })
      expect(states).toEqual(['degraded'])
      await new Promise((r) => setTimeout(r, 60))
      // Retried (and failed again): still limited by the fallback's count, and no second warning.
      await expect(limiter.consume('login:user:alice', rule)).rejects.toMatchObject({ code: 'rate_limited' })
      expect(states).toEqual(['degraded'])
    } finally {
      await dead.close()
    }
  })

  it('without a fallback refuses with 503 unavailable', async () => {
    const dead = await deadRedis()
    try {
      await expect(new RateLimiter(dead, () => 0).consume('k', rule)).rejects.toMatchObject({ code: 'unavailable', status: 503 })
    } finally {
      await dead.close()
    }
  })

  it('goes back to the shared store when it answers again', async () => {
    const shared = memoryRateLimits()
    let down = true
    const flaky: typeof shared = {
      hit: (...a) => (down ? Promise.reject(new StoreUnavailableError('down')) : shared.hit(...a)),
      peek: (...a) => shared.peek(...a),
      reset: (...a) => (down ? Promise.reject(new StoreUnavailableError('down')) : shared.reset(...a)),
    }
    const states: string[] = []
    const limiter = new RateLimiter(flaky, () => 0, { fallback: memoryRateLimits(), onStateChange: (s) => states.push(s), retryAfterMs: 0 })
    await limiter.consume('k', rule)
    down = false
    await limiter.consume('k', rule)
    expect(states).toEqual(['degraded', 'recovered'])
    expect((await shared.peek('k', 60_000, 0)).count).toBe(1)
  })

  it('a reset after the outage also forgets what the fallback counted during it', async () => {
    const shared = memoryRateLimits()
    const fallback = memoryRateLimits()
    let down = true
    const flaky: typeof shared = {
      hit: (...a) => (down ? Promise.reject(new StoreUnavailableError('down')) : shared.hit(...a)),
      peek: (...a) => shared.peek(...a),
      reset: (...a) => (down ? Promise.reject(new StoreUnavailableError('down')) : shared.reset(...a)),
    }
    const limiter = new RateLimiter(flaky, () => 0, { fallback, retryAfterMs: 0 })
    for (let i = 0; i < 3; i++) await limiter.consume('k', rule)
    expect((await fallback.peek('k', 60_000, 0)).count).toBe(3)
    down = false
    await limiter.reset('k') // e.g. the right password, once the shared store is back
    expect((await fallback.peek('k', 60_000, 0)).count).toBe(0)
  })
})
