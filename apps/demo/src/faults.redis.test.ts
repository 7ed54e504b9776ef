// Two demo instances reach PostgreSQL and Redis through TCP proxies that the
// test cuts and restores under load. What must hold: requests that need a
// service that is down answer 503 `unavailable` quickly (never a 500, a hang
// or a request let through), nothing fails open, and when the service
// returns the instances recover without a restart, with no session and no
// money lost. Needs PostgreSQL and Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, tcpProxy, TEST_REDIS_URL, type TcpProxy, type TestDatabase } from '../../../packages/server/src/testing/services.ts'
import { DEMO_USERS } from './demo-users.ts'
import { accessRefusedWithin, BalancedBrowser, ledgerTotals, startCluster, uniqueUser, within } from './testing/cluster.ts'
import type { Demo } from './testing/start-demo.ts'

const alice = DEMO_USERS[0]
let db: TestDatabase
let pgProxy: TcpProxy
// Each instance reaches Redis by a path of its own, so one can be cut off alone.
let redisProxies: TcpProxy[]
const redisProxy = {
  cut: () => redisProxies.forEach((p) => p.cut()),
  restore: () => redisProxies.forEach((p) => p.restore()),
}
let nodes: Demo[]
let one: Demo, two: Demo

beforeAll(async () => {
  db = await createTestDatabase()
  pgProxy = await tcpProxy(db.url)
  redisProxies = [await tcpProxy(TEST_REDIS_URL), await tcpProxy(TEST_REDIS_URL)]
  nodes = await startCluster({ instances: 2, databaseUrl: pgProxy.url, envOf: (i) => ({ REDIS_URL: redisProxies[i]!.url }) })
  ;[one, two] = nodes as [Demo, Demo]
}, 90_000)

afterAll(async () => {
  pgProxy?.restore()
  redisProxy.restore()
  await Promise.all((nodes ?? []).map((n) => n.stop().catch(() => null)))
  await Promise.all([pgProxy?.close(), ...(redisProxies ?? []).map((p) => p.close())])
  await db?.drop()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Outcome {
  op: string
  status: number
  code: string | undefined
  ms: number
  at: number
}

describe('PostgreSQL goes away under load', () => {
  it('answers 503 quickly while it is down, serves what needs no database, and recovers without a restart: no session, no money lost', async () => {
    const sessions = await Promise.all(
      [one, two, one, two].map(async (node) => {
        const b = new BalancedBrowser()
        await b.via(node).signIn(alice.username, alice.password)
        return b
      }),
    )
    const start = performance.now()
    const outcomes: Outcome[] = []
    const ops: Array<[string, (b: BalancedBrowser) => Promise<{ status: number; body: any }>]> = [
      ['refresh', (b) => b.request('POST', '/auth/refresh')],
      ['me', (b) => b.request('GET', '/api/me')],
      ['transfer', (b) => b.request('POST', '/api/transfer', { body: { to: 'mallory', amount: 1 } })],
      ['balance', (b) => b.request('GET', '/api/balance')],
      ['session', (b) => b.request('GET', '/auth/session')],
    ]
    const CUT_AT = 1_500
    const RESTORE_AT = 4_500 // a 3 s outage: shorter than the 10 s refresh grace
    const END_AT = 7_000
    const worker = async (b: BalancedBrowser, w: number) => {
      for (let i = 0; i < 2_000 && performance.now() - start < END_AT; i++) {
        const [op, run] = ops[(i + w) % ops.length]!
        const t0 = performance.now()
        // A refused or reset connection (an instance that died) is status 0, and fails the test below.
        const res = await run(b.via(nodes[(i + w) % 2]!)).catch(() => ({ status: 0, body: null }))
        outcomes.push({ op, status: res.status, code: res.body?.error?.code, ms: performance.now() - t0, at: t0 - start })
        await sleep(10)
      }
    }
    const cutter = (async () => {
      await sleep(CUT_AT)
      pgProxy.cut()
      await sleep(RESTORE_AT - CUT_AT)
      pgProxy.restore()
    })()
    await Promise.all([cutter, ...sessions.map(worker)])

    const during = outcomes.filter((o) => o.at > CUT_AT + 100 && o.at + o.ms < RESTORE_AT)
    const slowest = Math.max(...outcomes.map((o) => o.ms))
    console.info(
      `PostgreSQL cut for ${RESTORE_AT - CUT_AT} ms under load: ${outcomes.length} answers, ${outcomes.filter((o) => o.status === 503).length} of them 503, ` +
        `${during.filter((o) => o.op === 'me' && o.status === 200).length} /api/me served during the outage, slowest answer ${slowest.toFixed(0)} ms`,
    )
    // Every answer is a success or the contract's 503: no 500, no 401 (nobody signed out), nothing else.
    expect(outcomes.filter((o) => ![200, 201, 503].includes(o.status)), nodes.map((n) => n.output().slice(-2000)).join('\n')).toEqual([])
    expect(outcomes.filter((o) => o.status === 503 && o.code !== 'unavailable')).toEqual([])
    // Quickly: no request waited anywhere near a client's timeout.
    expect(slowest).toBeLessThan(3_500)
    // The outage was felt by what needs the database...
    for (const op of ['refresh', 'transfer', 'balance', 'session']) {
      expect(during.filter((o) => o.op === op && o.status === 503).length, `${op} answered 503 during the outage`).toBeGreaterThan(0)
      expect(during.filter((o) => o.op === op && o.status !== 503), `${op} let nothing through during the outage`).toEqual([])
    }
    // ...but not by an API call that only verifies its access token (no store read on the hot path).
    expect(during.filter((o) => o.op === 'me').length).toBeGreaterThan(0)
    expect(during.filter((o) => o.op === 'me' && o.status !== 200)).toEqual([])

    // Recovered without a restart: every session refreshes and is served on both instances.
    for (const b of sessions) {
      const back = await within(10_000, async () => (await b.via(one).request('POST', '/auth/refresh')).status === 200, 200)
      expect(back, 'the session refreshes again after the outage').not.toBeNull()
      for (const node of nodes) expect((await b.via(node).request('GET', '/api/me')).status).toBe(200)
    }
    const totals = await ledgerTotals(db.url)
    expect(totals.total).toBe(100_000)
    expect(totals.min).toBeGreaterThanOrEqual(0)
    // Every transfer answered 201 is in the ledger (some answered 503 may have committed: never the other way round).
    expect(totals.transfers).toBeGreaterThanOrEqual(outcomes.filter((o) => o.op === 'transfer' && o.status === 201).length)
  }, 60_000)

  it('a database that accepts connections and never answers is a 503 within seconds, not a hang', async () => {
    const b = new BalancedBrowser()
    await b.via(one).signIn(alice.username, alice.password)
    pgProxy.blackhole()
    try {
      for (const [op, run] of [
        ['refresh', () => b.request('POST', '/auth/refresh')],
        ['session', () => b.request('GET', '/auth/session')],
      ] as const) {
        const t0 = performance.now()
        const res = await run()
        const ms = performance.now() - t0
        expect(res.status, `${op}: ${res.text}`).toBe(503)
        expect(res.body.error.code).toBe('unavailable')
        expect(ms, `${op} answered within the connection timeout`).toBeLessThan(6_000)
        console.info(`PostgreSQL black-holed: ${op} answered 503 in ${ms.toFixed(0)} ms`)
      }
    } finally {
      pgProxy.restore()
    }
    expect(await within(10_000, async () => (await b.request('POST', '/auth/refresh')).status === 200, 200)).not.toBeNull()
  }, 60_000)
})

describe('Redis goes away', () => {
  it('rate limits fall back to per-instance counting (never open), revocation to the store poll; both recover when it returns', async () => {
    // A user of its own, signed in on both instances, with both having verified its access token.
    const name = uniqueUser()
    const victim = new BalancedBrowser()
    await victim.via(one).request('GET', '/auth/csrf')
    expect((await victim.request('POST', '/auth/register', { body: { username: name, password: 'the-right-password-1' } })).status).toBe(201)
    await victim.signIn(name, 'the-right-password-1')
    expect((await victim.via(two).request('GET', '/api/me')).status).toBe(200)
    const access = victim.browser.cookie('__Host-access')!

    redisProxy.cut()
    try {
      // Logout on one: its broadcast fails; two learns of it from the store within its 5 s poll.
      expect((await victim.via(one).request('POST', '/auth/logout')).status).toBe(204)
      const refused = await accessRefusedWithin(two, access, 12_000, 100)
      expect(refused, 'the other instance refuses the revoked token through the store poll').not.toBeNull()
      console.info(`Redis cut: a logout reached the other instance through the store poll in ${refused!.toFixed(0)} ms`)

      // Wrong passwords on one instance: still limited (10 per account), now by that instance's own counters.
      const statuses: number[] = []
      for (let i = 0; i < 11; i++) {
        const attacker = new BalancedBrowser()
        await attacker.via(one).request('GET', '/auth/csrf')
        statuses.push((await attacker.request('POST', '/auth/login', { body: { username: name, password: `wrong-password-${i}` } })).status)
      }
      expect(statuses).toEqual([...Array(10).fill(401), 429])
      expect(one.output()).toContain('"event":"rate_limits_degraded"')
      expect(two.output()).toContain('"event":"revocation_bus_degraded"')
    } finally {
      redisProxy.restore()
    }

    // Back: the bus carries revocations within a second again.
    expect(await within(15_000, async () => two.output().includes('"event":"revocation_bus_recovered"'), 100)).not.toBeNull()
    expect(await within(15_000, async () => one.output().includes('"event":"revocation_bus_recovered"'), 100)).not.toBeNull()
    const again = new BalancedBrowser()
    await again.via(one).signIn(alice.username, alice.password)
    expect((await again.via(two).request('GET', '/api/me')).status).toBe(200)
    const token = again.browser.cookie('__Host-access')!
    expect((await again.via(one).request('POST', '/auth/logout')).status).toBe(204)
    const fast = await accessRefusedWithin(two, token, 1_000)
    expect(fast, 'revocation reaches the other instance within 1 s once Redis is back').not.toBeNull()
    console.info(`Redis back: a logout reached the other instance through the bus in ${fast!.toFixed(0)} ms`)
    const totals = await ledgerTotals(db.url)
    expect(totals.total).toBe(100_000)
  }, 90_000)
})

describe('one instance cut off from Redis, the others not', () => {
  it('a revocation made there still reaches the others through the store within the 5 s poll', async () => {
    const b = new BalancedBrowser()
    await b.via(one).signIn(alice.username, alice.password)
    expect((await b.via(two).request('GET', '/api/me')).status).toBe(200)
    const access = b.browser.cookie('__Host-access')!
    redisProxies[0]!.cut() // only the first instance's path: the second's bus stays healthy and cannot notice
    try {
      expect((await b.via(one).request('POST', '/auth/logout')).status).toBe(204)
      const refused = await accessRefusedWithin(two, access, 8_000, 100)
      expect(refused, 'the second instance refuses the token within its poll interval').not.toBeNull()
      console.info(`one instance cut off from Redis: its logout reached the other through the store in ${refused!.toFixed(0)} ms`)
    } finally {
      redisProxies[0]!.restore()
    }
  }, 60_000)
})
