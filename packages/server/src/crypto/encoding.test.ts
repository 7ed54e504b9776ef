import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { hmac, hmacBase64url, randomBuffer, randomToken } from './encoding.ts'

describe('random tokens from the pool', () => {
  it('never hands out the same bytes twice, across many refills of the pool', () => {
    const seen = new Set<string>()
    // 20,000 × 16 bytes: about 80 refills of the 4 KiB pool, with odd sizes between to misalign the draws.
    for (let i = 0; i < 20_000; i++) {
      const t = randomToken(16)
      expect(t).toMatch(/^[A-Za-z0-9_-]{22}$/)
      expect(seen.has(t)).toBe(false)
      seen.add(t)
      if (i % 7 === 0) randomToken(5 + (i % 13))
    }
  })

  it('gives the requested size, larger than the pool too, and buffers of their own', () => {
    expect(Buffer.from(randomToken(18), 'base64url')).toHaveLength(18)
    expect(Buffer.from(randomToken(10_000), 'base64url')).toHaveLength(10_000)
    const a = randomBuffer(32)
    const copy = Buffer.from(a)
    randomBuffer(4096) // a refill of the pool must not change a buffer already handed out
    randomToken(4000)
    expect(a.equals(copy)).toBe(true)
    expect(randomBuffer(5000)).toHaveLength(5000)
  })

  it('is not constant: the bytes are spread (a zeroed or unfilled pool fails this)', () => {
    const bytes = Buffer.concat(Array.from({ length: 64 }, () => randomBuffer(64)))
    const counts = new Array<number>(256).fill(0)
    for (const b of bytes) counts[b]!++
    // 4096 bytes over 256 values: 16 expected per value; no value near a third of all.
    expect(Math.max(...counts)).toBeLessThan(64)
    expect(counts.filter((c) => c > 0).length).toBeGreaterThan(200)
  })
})

describe('hmacBase64url', () => {
  it('is hmac encoded as base64url', () => {
    const key = Buffer.from('k'.repeat(32))
    for (const v of ['', 'refresh:a:b:1', 'caf\u00e9']) {
      expect(hmacBase64url(key, v)).toBe(hmac(key, v).toString('base64url'))
      expect(hmacBase64url(key, v)).toBe(createHmac('sha256', key).update(v, 'utf8').digest('base64url'))
    }
  })
})
