import { describe, expect, it } from 'vitest'
import { PasswordHasher } from './passwords.ts'
import { CHEAP_ARGON2 } from './testing/harness.ts'

describe('PasswordHasher', () => {
  it('verifies the right password, refuses a wrong one and an unknown user alike', async () => {
    const h = new PasswordHasher(CHEAP_ARGON2)
    const stored = await h.hash('correct-horse-battery')
    expect(await h.verify(stored, 'correct-horse-battery')).toBe(true)
    expect(await h.verify(stored, 'wrong-horse-battery')).toBe(false)
    expect(await h.verify(null, 'correct-horse-battery')).toBe(false)
  })

  it('runs at most `concurrency` hashes at once, queues `queue` more, and refuses the rest at once with 503', async () => {
    const h = new PasswordHasher(CHEAP_ARGON2, { concurrency: 1, queue: 2 })
    const stored = await h.hash('correct-horse-battery')
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => h.verify(i % 2 ? stored : null, 'correct-horse-battery')))
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason)
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3)
    expect(refused).toHaveLength(3)
    for (const e of refused) expect(e).toMatchObject({ code: 'unavailable', status: 503, retryAfter: 1 })
    // A turn freed is a turn given: afterwards it works again.
    expect(await h.verify(stored, 'correct-horse-battery')).toBe(true)
  })

  it('refuses a nonsensical limit at start', () => {
    expect(() => new PasswordHasher(CHEAP_ARGON2, { concurrency: 0 })).toThrow(/concurrency/)
  })
})
