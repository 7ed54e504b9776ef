// Three demo processes on three ports, sharing one PostgreSQL database (users,
// sessions, keys, balances) and Redis (rate limits, revocation bus): a
// session moves freely between them, a revocation reaches all of them within
// a second, 50 racing refreshes agree on one successor, and a rate limit is
// counted once for all. Needs PostgreSQL and Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cookieValue, setCookieFor } from '../../../packages/server/src/testing/harness.ts'
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../../../packages/server/src/testing/services.ts'
import { DEMO_USERS } from './demo-users.ts'
import { accessRefusedWithin, BalancedBrowser, ledgerTotals, startCluster, uniqueUser } from './testing/cluster.ts'
import type { Demo } from './testing/start-demo.ts'

const [alice, mallory] = DEMO_USERS
let db: TestDatabase
let nodes: Demo[]
let one: Demo, two: Demo, three: Demo

beforeAll(async () => {
  db = await createTestDatabase()
  nodes = await startCluster({ instances: 3, databaseUrl: db.url, redisUrl: TEST_REDIS_URL })
  ;[one, two, three] = nodes as [Demo, Demo, Demo]
}, 90_000)

afterAll(async () => {
  await Promise.all((nodes ?? []).map((n) => n.stop().catch(() => null)))
  await db?.drop()
})

describe('three instances on PostgreSQL and Redis', () => {
  it('started together, they agree on the demo accounts and the signing keys', async () => {
    const kids = await Promise.all(
      nodes.map(async (n) => ((await (await fetch(`${n.bankUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort()),
    )
    expect(kids[0]!.length).toBeGreaterThan(0)
    expect(kids[1]).toEqual(kids[0])
    expect(kids[2]).toEqual(kids[0])
    expect(await ledgerTotals(db.url)).toMatchObject({ total: 100_000, min: expect.toSatisfy((m: number) => m >= 0) })
  })

  it('signed in through the first, refreshed through the second, served and moving money through the third', async () => {
    const b = new BalancedBrowser()
    await b.via(one).signIn(alice.username, alice.password)
    const before = b.browser.cookie('__Secure-refresh')
    const refreshed = await b.via(two).request('POST', '/auth/refresh')
    expect(refreshed.status, refreshed.text).toBe(200)
    expect(b.browser.cookie('__Secure-refresh')).not.toBe(before)
    const me = await b.via(three).request('GET', '/api/me')
    expect(me.status, me.text).toBe(200)
    expect(me.body.user.username).toBe('alice')
    const sent = await b.via(three).request('POST', '/api/transfer', { body: { to: 'mallory', amount: 1 } })
    expect(sent.status, sent.text).toBe(201)
    expect((await b.via(one).request('GET', '/api/balance')).body.balance).toBe(sent.body.balance)
    expect(await ledgerTotals(db.url)).toMatchObject({ total: 100_000, min: expect.toSatisfy((m: number) => m >= 0) })
  })

  it('logout-all through the first: within one second the old access cookie is refused by the other two', async () => {
    const b = new BalancedBrowser()
    await b.via(one).signIn(alice.username, alice.password)
    const access = b.browser.cookie('__Host-access')!
    // Both others have verified the token once, so it sits in their caches: the revocation must beat the cache.
    expect((await b.via(two).request('GET', '/api/me')).status).toBe(200)
    expect((await b.via(three).request('GET', '/api/me')).status).toBe(200)

    expect((await b.via(one).request('POST', '/auth/logout-all')).status).toBe(204)
    const [onTwo, onThree] = await Promise.all([accessRefusedWithin(two, access, 1_000), accessRefusedWithin(three, access, 1_000)])
    expect(onTwo, 'refused by the second instance within 1 s').not.toBeNull()
    expect(onThree, 'refused by the third instance within 1 s').not.toBeNull()
    console.info(`logout-all on the first instance: refused by the second after ${onTwo!.toFixed(0)} ms, by the third after ${onThree!.toFixed(0)} ms`)
  })

  it('a device revoked, a logout, a replayed refresh token: each refused by the other instances within one second', async () => {
    const refusedWithin1s = (access: string, others: Demo[]) => Promise.all(others.map((node) => accessRefusedWithin(node, access, 1_000)))
    const warm = async (b: BalancedBrowser) => {
      for (const node of nodes) expect((await b.via(node).request('GET', '/api/me')).status).toBe(200)
      return b.browser.cookie('__Host-access')!
    }

    // Revoked from another device, through the first instance.
    const phone = new BalancedBrowser()
    const laptop = new BalancedBrowser()
    const { body } = await phone.via(two).signIn(alice.username, alice.password)
    await laptop.via(three).signIn(alice.username, alice.password)
    const phoneAccess = await warm(phone)
    expect((await laptop.via(one).request('DELETE', `/auth/sessions/${body.session.id}`)).status).toBe(204)
    for (const t of await refusedWithin1s(phoneAccess, [two, three])) expect(t, 'a revoked device is refused everywhere within 1 s').not.toBeNull()

    // A plain logout, through the third.
    const tab = new BalancedBrowser()
    await tab.via(one).signIn(alice.username, alice.password)
    const tabAccess = await warm(tab)
    expect((await tab.via(three).request('POST', '/auth/logout')).status).toBe(204)
    for (const t of await refusedWithin1s(tabAccess, [one, two])) expect(t, 'a logged-out session is refused everywhere within 1 s').not.toBeNull()

    // A stolen refresh token replayed (after two rotations, past any grace) on the second: the whole family dies everywhere.
    const victim = new BalancedBrowser()
    await victim.via(one).signIn(alice.username, alice.password)
    const stolen = victim.browser.cookie('__Secure-refresh')!
    const csrf = victim.browser.cookie('__Host-csrf')!
    expect((await victim.via(one).request('POST', '/auth/refresh')).status).toBe(200)
    expect((await victim.via(three).request('POST', '/auth/refresh')).status).toBe(200)
    const victimAccess = await warm(victim)
    const thief = new BalancedBrowser()
    thief.browser.setCookie('__Secure-refresh', stolen, '/auth')
    thief.browser.setCookie('__Host-csrf', csrf)
    expect((await thief.via(two).request('POST', '/auth/refresh')).status).toBe(401)
    for (const t of await refusedWithin1s(victimAccess, [one, three])) expect(t, 'reuse revokes the family everywhere within 1 s').not.toBeNull()
  })

  it('50 concurrent refreshes of one token spread over the three: one successor, nobody logged out', async () => {
    const b = new BalancedBrowser()
    await b.via(one).signIn(alice.username, alice.password)
    const cookie = b.browser.cookieHeader('/auth/refresh')
    const csrf = b.browser.cookie('__Host-csrf')!
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${nodes[i % 3]!.bankUrl}/auth/refresh`, {
          method: 'POST',
          headers: { Cookie: cookie, 'X-CSRF-Token': csrf, Origin: b.browser.server.origin, 'Sec-Fetch-Site': 'same-origin', 'X-Forwarded-For': b.address },
        }).then(async (r) => ({ status: r.status, refresh: cookieValue(setCookieFor({ setCookies: r.headers.getSetCookie() } as never, '__Secure-refresh')) })),
      ),
    )
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200))
    const successors = new Set(answers.map((a) => a.refresh))
    expect(successors.size).toBe(1)
    // The browser keeps whichever answer arrived last: the one successor. It is still signed in everywhere.
    b.browser.setCookie('__Secure-refresh', [...successors][0]!, '/auth')
    for (const node of nodes) expect((await b.via(node).request('POST', '/auth/refresh')).status).toBe(200)
    expect((await b.via(two).request('GET', '/api/me')).status).toBe(200)
  })

  it('transfers racing across the three instances: no money made or lost, no deadlock, no overdraft', async () => {
    const a = new BalancedBrowser()
    const m = new BalancedBrowser()
    await a.via(one).signIn(alice.username, alice.password)
    await m.via(two).signIn(mallory.username, mallory.password)
    const balance = async (b: BalancedBrowser) => (await b.via(one).request('GET', '/api/balance')).body.balance as number
    const [aliceBefore, malloryBefore] = [await balance(a), await balance(m)]
    const send = (from: BalancedBrowser, to: string, amount: number, i: number) =>
      from.browser
        .request('POST', '/api/transfer', { body: { to, amount }, headers: { 'X-Forwarded-For': from.address } })
        .then((r) => ({ status: r.status, amount: from === a ? -amount : amount }))
    // Opposite directions at once, over all three instances: the pattern that deadlocks rows locked in different orders.
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const from = i % 2 === 0 ? a : m
        from.via(nodes[i % 3]!)
        return i % 2 === 0 ? send(a, 'mallory', 700, i) : send(m, 'alice', 300, i)
      }),
    )
    expect(answers.filter((r) => r.status !== 201 && r.status !== 400)).toEqual([])
    const moved = answers.filter((r) => r.status === 201).reduce((sum, r) => sum + r.amount, 0) // to alice
    expect(await balance(a)).toBe(aliceBefore + moved)
    expect(await balance(m)).toBe(malloryBefore - moved)

    // Overdraft race: mallory's whole balance sent ten times at once through three instances: exactly one succeeds.
    const all = await balance(m)
    expect(all).toBeGreaterThan(0)
    const overdraw = await Promise.all(Array.from({ length: 10 }, (_, i) => (m.via(nodes[i % 3]!), send(m, 'alice', all, i))))
    expect(overdraw.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(400)])
    expect(await balance(m)).toBe(0)
    expect(await ledgerTotals(db.url)).toMatchObject({ total: 100_000, min: 0 })
  })

  it('a per-account login limit is counted once across all three', async () => {
    const name = uniqueUser()
    const owner = new BalancedBrowser()
    await owner.via(one).request('GET', '/auth/csrf')
    expect((await owner.via(one).request('POST', '/auth/register', { body: { username: name, password: 'the-right-password-1' } })).status).toBe(201)
    const statuses: number[] = []
    // The demo's limit: 10 failed logins per account per 15 minutes. Each attempt from another address, on the next instance.
    for (let i = 0; i < 12; i++) {
      const attacker = new BalancedBrowser()
      await attacker.via(nodes[i % 3]!).request('GET', '/auth/csrf')
      statuses.push((await attacker.request('POST', '/auth/login', { body: { username: name, password: `wrong-password-${i}` } })).status)
    }
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429])
  })
})
