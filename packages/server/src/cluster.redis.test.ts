// Two stateless instances behind one public origin, sharing PostgreSQL (users,
// sessions, keys) and Redis (rate limits, revocation bus): what a load
// balancer in front of any number of them must see. Needs PostgreSQL and Redis.
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toNodeListener } from './adapters/node.ts'
import { createBastion, type Bastion } from './bastion.ts'
import { json } from './http/respond.ts'
import { postgresStore } from './stores/postgres/index.ts'
import { redisRateLimits, redisRevocationBus } from './stores/redis/index.ts'
import { Browser, CHEAP_ARGON2, SECRET } from './testing/harness.ts'
import { adminQuery } from './testing/services.ts'

const DB = process.env.BASTION_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS = process.env.BASTION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const PUBLIC_ORIGIN = 'http://localhost:8080' // the load balancer browsers talk to
const run = randomBytes(5).toString('hex')
const schema = `bastion_cluster_${run}`
// Redis outlives a run (its counters have a window): a user of this run only.
const USER = `alice${run}`

interface Instance {
  bastion: Bastion
  url: string
  stop(): Promise<void>
}

async function instance(): Promise<Instance> {
  const store = postgresStore({ connectionString: DB, schema })
  const rateLimits = redisRateLimits({ url: REDIS })
  const revocationBus = redisRevocationBus({ url: REDIS, channel: `bastion:test:${run}` })
  const bastion = await createBastion({
    store,
    rateLimits,
    revocationBus,
    secret: SECRET,
    argon2: CHEAP_ARGON2,
    publicOrigin: PUBLIC_ORIGIN,
    rateLimit: { loginPerAccount: { max: 3, windowSeconds: 60 } },
  })
  const server = http.createServer(
    toNodeListener(bastion, async (request, ctx) => {
      const g = await bastion.guard(request, ctx)
      return g.ok ? json({ user: { username: g.identity.username }, session: g.identity.sessionId }) : g.response
    }),
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    bastion,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await bastion.close()
      await Promise.all([store.close(), rateLimits.close(), revocationBus.close()])
    },
  }
}

/** A browser whose requests the "load balancer" sends to whichever instance the test names. */
function browserVia() {
  const target = { url: '', origin: PUBLIC_ORIGIN }
  const browser = new Browser(target)
  return { browser, via: (i: Instance) => ((target.url = i.url), browser) }
}

let a: Instance
let b: Instance

beforeAll(async () => {
  // Started together: both may create a first signing key; they must still agree.
  ;[a, b] = await Promise.all([instance(), instance()])
  await a.bastion.createUser(USER, 'alice-password-1')
})

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`, DB)
})

async function signIn(via: (i: Instance) => Browser, on: Instance) {
  await via(on).request('GET', '/auth/csrf')
  const res = await via(on).request('POST', '/auth/login', { body: { username: USER, password: 'alice-password-1' } })
  expect(res.status).toBe(200)
  return res.body.session.id as string
}

describe('two instances on PostgreSQL and Redis', () => {
  it('a session made on one instance works on the other, and refreshes anywhere', async () => {
    const { via } = browserVia()
    await signIn(via, a)
    expect((await via(b).request('GET', '/api/me')).status).toBe(200)
    expect((await via(b).request('POST', '/auth/refresh')).status).toBe(200)
    expect((await via(a).request('GET', '/api/me')).status).toBe(200)
    expect((await via(a).request('POST', '/api/anything')).status).toBe(200) // CSRF token valid on both
  })

  it('a logout on one instance is refused on the other at once, without waiting for the token to expire', async () => {
    const { browser, via } = browserVia()
    await signIn(via, a)
    expect((await via(b).request('GET', '/api/me')).status).toBe(200) // B has verified (and cached) the token
    const access = browser.cookie('__Host-access')!
    expect((await via(a).request('POST', '/auth/logout')).status).toBe(204)
    // The bus is asynchronous: give the message a moment, bounded.
    let status = 0
    for (let i = 0; i < 50 && status !== 401; i++) {
      browser.setCookie('__Host-access', access)
      status = (await via(b).request('GET', '/api/me')).status
      if (status !== 401) await new Promise((r) => setTimeout(r, 20))
    }
    expect(status).toBe(401)
  })

  it('a refresh token replayed on another instance after the grace revokes the family everywhere', async () => {
    const { browser, via } = browserVia()
    await signIn(via, a)
    const stolen = browser.cookie('__Secure-refresh')!
    expect((await via(a).request('POST', '/auth/refresh')).status).toBe(200)
    const thief = browserVia()
    thief.browser.setCookie('__Secure-refresh', stolen, '/auth')
    thief.browser.setCookie('__Host-csrf', browser.cookie('__Host-csrf')!)
    // A second rotation puts the stolen token two generations back: past any grace, a replay is reuse.
    expect((await via(a).request('POST', '/auth/refresh')).status).toBe(200)
    const replay = await thief.via(b).request('POST', '/auth/refresh')
    expect(replay.status).toBe(401)
    let status = 0
    for (let i = 0; i < 50 && status !== 401; i++) {
      status = (await via(a).request('GET', '/api/me')).status
      if (status !== 401) await new Promise((r) => setTimeout(r, 20))
    }
    expect(status).toBe(401)
  })

  it('the per-account login limit holds across instances', async () => {
    const statuses: number[] = []
    for (const target of [a, b, a, b, a]) {
      const { via } = browserVia()
      await via(target).request('GET', '/auth/csrf')
      statuses.push((await via(target).request('POST', '/auth/login', { body: { username: USER, password: 'wrong-password-9' } })).status)
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429])
  })

  // Last in the file: it ends every session of this schema.
  it('a revoke-all on one instance reaches the other on the bus at once (well inside the 5 s poll); signing in again works', async () => {
    const other = `bob${run}`
    await a.bastion.createUser(other, 'bob-password-12')
    const { browser, via } = browserVia()
    await via(b).request('GET', '/auth/csrf')
    expect((await via(b).request('POST', '/auth/login', { body: { username: other, password: 'bob-password-12' } })).status).toBe(200)
    expect((await via(b).request('GET', '/api/me')).status).toBe(200)
    const access = browser.cookie('__Host-access')!
    const started = Date.now()
    await a.bastion.revokeAllSessions()
    let status = 0
    while (status !== 401) {
      browser.setCookie('__Host-access', access)
      status = (await via(b).request('GET', '/api/me')).status
      if (status !== 401) await new Promise((r) => setTimeout(r, 10))
      expect(Date.now() - started).toBeLessThan(1_000)
    }
    expect((await via(b).request('POST', '/auth/refresh')).status).toBe(401)
    await new Promise((r) => setTimeout(r, 1_000)) // past the bound: the next whole second
    const again = browserVia()
    await again.via(a).request('GET', '/auth/csrf')
    expect((await again.via(a).request('POST', '/auth/login', { body: { username: other, password: 'bob-password-12' } })).status).toBe(200)
    expect((await again.via(b).request('GET', '/api/me')).status).toBe(200)
  })

  it('both instances publish the same keys in their JWKS', async () => {
    const ka = await (await fetch(`${a.url}/.well-known/jwks.json`)).json()
    const kb = await (await fetch(`${b.url}/.well-known/jwks.json`)).json()
    expect(ka.keys.map((k: { kid: string }) => k.kid).sort()).toEqual(kb.keys.map((k: { kid: string }) => k.kid).sort())
  })
})
