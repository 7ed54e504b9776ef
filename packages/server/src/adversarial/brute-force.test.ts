/**
 * Brute force and account enumeration: repeated wrong passwords are throttled
 * per account (whatever address they come from) and per address (whatever
 * usernames it rotates through); registration, which must refuse a taken
 * name, is throttled per address too; and neither the answers nor the time
 * they take tell an existing username from an unknown one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OWASP_ARGON2ID } from '../passwords.ts'
import { PASSWORD, expectError, startServer, uniqueName, type Res, type TestServer } from '../testing/harness.ts'
import { LogCollector } from './support.ts'

describe('throttling', () => {
  let srv: TestServer
  const logs = new LogCollector()
  beforeAll(async () => {
    // Behind a proxy (trustProxy), so the test can play an attacker rotating client addresses.
    srv = await startServer({
      trustProxy: true,
      log: logs.log,
      rateLimit: {
        loginPerAccount: { max: 5, windowSeconds: 900 },
        loginPerAddress: { max: 20, windowSeconds: 900 },
        registerPerAddress: { max: 5, windowSeconds: 3600 },
      },
    })
  })
  afterAll(async () => {
    await srv?.close()
  })

  let ipSeq = 0
  const freshIp = () => (++ipSeq, `198.51.${Math.floor(ipSeq / 250)}.${(ipSeq % 250) + 1}`)
  const loginFrom = async (ip: string, username: string, password: string): Promise<Res> => {
    const b = srv.browser()
    await b.csrf()
    return b.post('/auth/login', { username, password }, { headers: { 'X-Forwarded-For': ip } })
  }

  it('per account: wrong passwords from ever-new addresses are stopped at the account limit, the right one too until the window ends', async () => {
    const name = await srv.user()
    expect((await loginFrom(freshIp(), name, PASSWORD)).status).toBe(200) // positive control (and resets the counter)
    for (let i = 0; i < 5; i++) expectError(await loginFrom(freshIp(), name, `wrong-password-${i}`), 401, 'invalid_credentials')
    const limited = await loginFrom(freshIp(), name, 'wrong-password-x')
    expectError(limited, 429, 'rate_limited')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expectError(await loginFrom(freshIp(), name, PASSWORD), 429, 'rate_limited')
    // Bearer login shares the limit: no side door.
    const viaToken = await fetch(`${srv.url}/auth/token`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': freshIp() }, body: JSON.stringify({ username: name, password: PASSWORD }) })
    expect(viaToken.status).toBe(429)
    // Another account is not affected (no lock-out of everyone).
    expect((await loginFrom(freshIp(), await srv.user(), PASSWORD)).status).toBe(200)
    srv.clock.advance(901)
    expect((await loginFrom(freshIp(), name, PASSWORD)).status).toBe(200)
    expect(logs.named('rate_limited').some((e) => e.scope === 'login_account')).toBe(true)
  })

  it('per address: one address rotating through usernames (existing or not) is stopped at the address limit', async () => {
    const ip = '203.0.113.7'
    const names = await Promise.all(Array.from({ length: 10 }, () => srv.user()))
    expect((await loginFrom(ip, names[0]!, PASSWORD)).status).toBe(200) // positive control
    let refused = 0
    for (let i = 0; i < 25; i++) {
      const name = i % 2 ? names[i % names.length]! : uniqueName('ghost')
      const res = await loginFrom(ip, name, `wrong-password-${i}`)
      if (res.status === 429) refused++
      else expectError(res, 401, 'invalid_credentials')
    }
    expect(refused).toBe(25 + 1 - 20)
    // Even the right password of a fresh account is refused from that address now; another address is served.
    expectError(await loginFrom(ip, names[9]!, PASSWORD), 429, 'rate_limited')
    expect((await loginFrom('203.0.113.8', names[9]!, PASSWORD)).status).toBe(200)
    expect(logs.named('rate_limited').some((e) => e.scope === 'login_address' && e.ip === ip)).toBe(true)
  })

  it('registration refuses a taken name with the same answer whatever the case or form, and is throttled per address', async () => {
    const ip = '192.0.2.44'
    const taken = await srv.user()
    const reg = async (username: string) => {
      const b = srv.browser()
      await b.csrf()
      return b.post('/auth/register', { username, password: PASSWORD }, { headers: { 'X-Forwarded-For': ip } })
    }
    expect((await reg(uniqueName('fresh'))).status).toBe(201) // positive control
    const a = await reg(taken)
    const b = await reg(taken.toUpperCase())
    expectError(a, 400, 'bad_request')
    expect(b.body).toEqual(a.body)
    // Enumerating at speed: after the per-address budget every attempt is a 429, taken name or not.
    expect((await reg(uniqueName('fresh'))).status).toBe(201)
    expect((await reg(uniqueName('fresh'))).status).toBe(201)
    expectError(await reg(taken), 429, 'rate_limited')
    expectError(await reg(uniqueName('fresh')), 429, 'rate_limited')
    expect(logs.named('rate_limited').some((e) => e.scope === 'register_address')).toBe(true)
  })
})

describe('throttling without a trusted proxy', () => {
  it('a forged X-Forwarded-For does not buy a fresh address', async () => {
    const srv = await startServer({ rateLimit: { loginPerAddress: { max: 5, windowSeconds: 900 } } })
    try {
      const name = await srv.user()
      const b = srv.browser()
      await b.csrf()
      expect((await b.post('/auth/login', { username: name, password: PASSWORD })).status).toBe(200) // positive control
      const statuses: number[] = []
      for (let i = 0; i < 6; i++) {
        const a = srv.browser()
        await a.csrf()
        const res = await a.post('/auth/login', { username: uniqueName('ghost'), password: 'wrong-password-1' }, { headers: { 'X-Forwarded-For': `10.9.8.${i}`, 'X-Real-IP': `10.9.8.${i}` } })
        statuses.push(res.status)
      }
      expect(statuses).toEqual([401, 401, 401, 401, 429, 429])
    } finally {
      await srv.close()
    }
  })
})

/** Probability that a value of `a` exceeds one of `b` (Mann–Whitney U / (n·m)); 0.5 when the distributions coincide. */
function superiority(a: number[], b: number[]): number {
  let wins = 0
  for (const x of a) for (const y of b) wins += x > y ? 1 : x === y ? 0.5 : 0
  return wins / (a.length * b.length)
}
const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q)
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2
}

describe('enumeration by answer and by timing (argon2id at the production cost)', () => {
  let srv: TestServer
  beforeAll(async () => {
    // The harness normally hashes cheaply for speed; this test uses OWASP's parameters, the production default,
    // because the question is whether the password work hides the (much smaller) cost of the account lookup.
    srv = await startServer({
      argon2: OWASP_ARGON2ID,
      rateLimit: { loginPerAccount: { max: 10_000, windowSeconds: 60 }, loginPerAddress: { max: 10_000, windowSeconds: 60 } },
    })
  })
  afterAll(async () => {
    await srv?.close()
  })

  it('an existing and an unknown username with a wrong password get byte-identical answers', async () => {
    const name = await srv.user()
    const b = srv.browser()
    await b.csrf()
    const known = await b.post('/auth/login', { username: name, password: 'wrong-password-1' })
    const unknown = await b.post('/auth/login', { username: uniqueName('ghost'), password: 'wrong-password-1' })
    const invalid = await b.post('/auth/login', { username: '!!not a valid username!!', password: 'wrong-password-1' })
    expectError(known, 401, 'invalid_credentials')
    for (const other of [unknown, invalid]) {
      expect(other.text).toBe(known.text)
      expect(other.setCookies).toEqual(known.setCookies)
      expect([...other.headers.keys()].sort()).toEqual([...known.headers.keys()].sort())
    }
    const native = await fetch(`${srv.url}/auth/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: uniqueName('ghost'), password: 'x'.repeat(12) }) })
    expect(await native.text()).toBe(known.text)
  })

  it('the time of many attempts does not tell them apart: the two distributions overlap', async () => {
    const name = await srv.user()
    const b = srv.browser()
    await b.csrf()
    const attempt = async (username: string): Promise<number> => {
      const t0 = performance.now()
      const res = await b.post('/auth/login', { username, password: 'wrong-password-1' })
      const ms = performance.now() - t0
      expect(res.status).toBe(401)
      return ms
    }
    const cheap = async (): Promise<number> => {
      // Refused before any password work (an over-long username): what a lookup that skipped argon2 would look like.
      const t0 = performance.now()
      const res = await b.post('/auth/login', { username: 'x'.repeat(300), password: 'wrong-password-1' })
      expect(res.status).toBe(400)
      return performance.now() - t0
    }
    for (let i = 0; i < 4; i++) await attempt(i % 2 ? name : uniqueName('warm')) // warm-up
    const existing: number[] = []
    const missing: number[] = []
    const shortcut: number[] = []
    // Interleaved, so drift in machine load hits both series alike.
    for (let i = 0; i < 40; i++) {
      if (i % 2) {
        existing.push(await attempt(name))
        missing.push(await attempt(uniqueName('ghost')))
      } else {
        missing.push(await attempt(uniqueName('ghost')))
        existing.push(await attempt(name))
      }
      shortcut.push(await cheap())
    }
    const p = superiority(existing, missing)
    const ratio = median(existing) / median(missing)
    const summary = { p, ratio, existing: median(existing), missing: median(missing), shortcut: median(shortcut) }
    if (process.env.BASTION_TIMING_REPORT) console.log('login timing (ms, medians)', summary)
    // Power check: the same measure does separate a path without the password work, so "overlap" below is meaningful.
    expect(superiority(existing, shortcut), JSON.stringify(summary)).toBeGreaterThan(0.9)
    // Overlap: neither series is systematically slower (0.5 would be a perfect tie; these bounds are ~4 standard errors).
    expect(p, JSON.stringify(summary)).toBeGreaterThan(0.22)
    expect(p, JSON.stringify(summary)).toBeLessThan(0.78)
    expect(ratio, JSON.stringify(summary)).toBeGreaterThan(0.75)
    expect(ratio, JSON.stringify(summary)).toBeLessThan(1.33)
  })
})
