/**
 * What every `ReplayCache` must do, as one vitest suite each implementation
 * runs against itself (memory here, Redis beside its store).
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { ReplayCache } from './replay-cache.ts'

export function describeReplayCacheConformance(name: string, make: () => Promise<ReplayCache & { close?(): Promise<void> }>): void {
  describe(`replay-cache conformance: ${name}`, () => {
    it('accepts a key once, keeps keys apart, and 20 concurrent claims of one key let exactly one through', async () => {
      const cache = await make()
      const now = Date.now()
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()]
      expect(await cache.claim(a, now + 60_000, now)).toBe(true)
      expect(await cache.claim(a, now + 60_000, now + 1)).toBe(false)
      expect(await cache.claim(b, now + 60_000, now)).toBe(true)
      const results = await Promise.all(Array.from({ length: 20 }, () => cache.claim(c, now + 60_000, now)))
      expect(results.filter(Boolean)).toHaveLength(1)
      await cache.close?.()
    })

    it('forgets a key once it has expired', async () => {
      const cache = await make()
      const key = randomUUID()
      const now = Date.now()
      expect(await cache.claim(key, now + 50, now)).toBe(true)
      await new Promise((r) => setTimeout(r, 120))
      expect(await cache.claim(key, Date.now() + 50, Date.now())).toBe(true)
      await cache.close?.()
    })
  })
}
