import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { describeReplayCacheConformance } from '../../dpop/conformance.ts'
import { StoreUnavailableError } from '../../errors.ts'
import { redisReplayCache } from './index.ts'

const url = process.env.BASTION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

describeReplayCacheConformance('redis', async () => redisReplayCache({ url }))

describe('redisReplayCache', () => {
  it('shares claims between two instances, under bastion:dpop:<key> with an expiry', async () => {
    const [a, b] = [redisReplayCache({ url }), redisReplayCache({ url })]
    const key = `jkt:${randomUUID()}`
    const now = Date.now()
    expect(await a.claim(key, now + 30_000, now)).toBe(true)
    expect(await b.claim(key, now + 30_000, now)).toBe(false)
    const raw = new Redis(url)
    const ttl = await raw.pttl(`bastion:dpop:${key}`)
    expect(ttl).toBeGreaterThan(25_000)
    expect(ttl).toBeLessThanOrEqual(30_000)
    raw.disconnect()
    await Promise.all([a.close(), b.close()])
  })

  it('fails closed (StoreUnavailableError) within two seconds when Redis is unreachable', async () => {
    const cache = redisReplayCache({ url: 'redis://127.0.0.1:1' })
    const t = Date.now()
    await expect(cache.claim(randomUUID(), Date.now() + 1000, Date.now())).rejects.toBeInstanceOf(StoreUnavailableError)
    expect(Date.now() - t).toBeLessThan(2_500)
    await cache.close()
  })
})
