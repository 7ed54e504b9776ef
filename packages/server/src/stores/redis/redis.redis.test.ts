import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { StoreUnavailableError } from '../../errors.ts'
import { describeRateLimitConformance } from '../conformance.ts'
import { redisRateLimits, redisRevocationBus } from './index.ts'

const url = process.env.BASTION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const UNREACHABLE = 'redis://127.0.0.1:1'

describeRateLimitConformance('redis', async () => redisRateLimits({ url }))

const waitFor = async (check: () => boolean, ms = 2_000) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('redisRateLimits', () => {
  it('holds a limit across two instances', async () => {
    const a = redisRateLimits({ url })
    const b = redisRateLimits({ url })
    const key = `login:${randomUUID()}`
    const now = Date.now()
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).hit(key, 60_000, now)))
    expect((await a.hit(key, 60_000, now)).count).toBe(11)
    expect((await b.peek(key, 60_000, now)).count).toBe(11)
    await b.reset(key)
    expect((await a.peek(key, 60_000, now)).count).toBe(0)
    await Promise.all([a.close(), b.close()])
  })

  it('stores counters under bastion:rl:<key>:<windowStart> with an expiry', async () => {
    const raw = new Redis(url)
    const limits = redisRateLimits({ client: raw })
    const key = `k:${randomUUID()}`
    const now = Date.now()
    const windowStart = now - (now % 10_000)
    await limits.hit(key, 10_000, now)
    expect(await raw.get(`bastion:rl:${key}:${windowStart}`)).toBe('1')
    const ttl = await raw.pttl(`bastion:rl:${key}:${windowStart}`)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(11_000)
    await limits.close()
    // A client it was given stays open.
    expect(await raw.ping()).toBe('PONG')
    await raw.quit()
  })

  it('fails closed with StoreUnavailableError within 2 s when Redis is unreachable', async () => {
    const limits = redisRateLimits({ url: UNREACHABLE })
    for (const call of [() => limits.hit('k', 1000, Date.now()), () => limits.peek('k', 1000, Date.now())]) {
      const started = Date.now()
      await expect(call()).rejects.toBeInstanceOf(StoreUnavailableError)
      expect(Date.now() - started).toBeLessThan(2_000)
    }
    await limits.close()
  })
})

describe('redisRevocationBus', () => {
  it('delivers a publish from one connection to subscribers on others', async () => {
    const channel = `bastion:test:${randomUUID()}`
    const sender = redisRevocationBus({ url, channel })
    const receiverA = redisRevocationBus({ url, channel })
    const receiverB = redisRevocationBus({ url, channel })
    const gotA: string[][] = []
    const gotB: string[][] = []
    const stopA = await receiverA.subscribe((ids) => gotA.push(ids))
    await receiverB.subscribe((ids) => gotB.push(ids))
    await sender.publish(['s1', 's2'])
    await waitFor(() => gotA.length === 1 && gotB.length === 1)
    expect(gotA).toEqual([['s1', 's2']])
    expect(gotB).toEqual([['s1', 's2']])

    await stopA()
    await sender.publish(['s3'])
    await waitFor(() => gotB.length === 2)
    expect(gotB[1]).toEqual(['s3'])
    expect(gotA).toHaveLength(1)
    await Promise.all([sender.close(), receiverA.close(), receiverB.close()])
  })

  it('ignores messages that are not arrays of ids, and a throwing listener does not stop others', async () => {
    const channel = `bastion:test:${randomUUID()}`
    const bus = redisRevocationBus({ url, channel })
    const got: string[][] = []
    await bus.subscribe(() => {
      throw new Error('boom')
    })
    await bus.subscribe((ids) => got.push(ids))
    const raw = new Redis(url)
    await raw.publish(channel, 'not json')
    await raw.publish(channel, '{"a":1}')
    await raw.publish(channel, '["ok"]')
    await waitFor(() => got.length === 1)
    expect(got).toEqual([['ok']])
    await raw.quit()
    await bus.close()
  })

  it('uses the channel bastion:revocations by default', async () => {
    const bus = redisRevocationBus({ url })
    const raw = new Redis(url)
    const got: string[] = []
    await raw.subscribe('bastion:revocations')
    raw.on('message', (_ch, msg) => got.push(msg))
    const id = randomUUID()
    await bus.publish([id])
    await waitFor(() => got.some((m) => m.includes(id)))
    await raw.quit()
    await bus.close()
  })

  it('fails closed when Redis is unreachable', async () => {
    const bus = redisRevocationBus({ url: UNREACHABLE })
    const started = Date.now()
    await expect(bus.publish(['s1'])).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(bus.subscribe(() => {})).rejects.toBeInstanceOf(StoreUnavailableError)
    expect(Date.now() - started).toBeLessThan(5_000)
    await bus.close()
  })
})
