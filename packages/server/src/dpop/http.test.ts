/**
 * Device-bound sessions over real HTTP: a real Bastion (SQLite, or PostgreSQL
 * with BASTION_TEST_STORE=postgres), proofs signed with Web Crypto keys, and
 * the thief's moves: a copied refresh cookie, inside the grace and after.
 */
import { calculateJwkThumbprint } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LogCollector } from '../adversarial/support.ts'
import { PASSWORD, expectError, nativeRequest, startServer, type Browser, type TestServer } from '../testing/harness.ts'
import { deviceKey, type DeviceKey } from './testing.ts'

const logs = new LogCollector()
let srv: TestServer
beforeAll(async () => {
  srv = await startServer({ log: logs.log, refreshGrace: 10, allowedOrigins: ['http://localhost:5173'] })
})
afterAll(async () => {
  await srv?.close()
})

const proof = (key: DeviceKey, path: string, over: { iat?: number; nonce?: string; htm?: string } = {}) =>
  key.proof({ htm: over.htm ?? 'POST', htu: `${srv.origin}${path}`, ...(over.iat !== undefined ? { iat: over.iat } : {}), ...(over.nonce ? { nonce: over.nonce } : {}) }, { now: srv.clock.t })

/** Signs in with a proof by `key`; answers the session id. */
async function boundSignIn(b: Browser, key: DeviceKey): Promise<string> {
  const name = await srv.user()
  await b.csrf()
  const res = await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { DPoP: await proof(key, '/auth/login') } })
  expect(res.status, res.text).toBe(200)
  return res.body.session.id as string
}

const refreshWith = async (b: Browser, key?: DeviceKey) => b.refresh(key ? { headers: { DPoP: await proof(key, '/auth/refresh') } } : {})

/** A second browser holding a copy of `victim`'s cookies (malware, a synced profile, a leaked HAR). */
function thiefWithCookiesOf(victim: Browser): Browser {
  const thief = srv.browser()
  for (const [k, c] of victim.jar) thief.jar.set(k, { ...c })
  return thief
}

describe('device-bound sessions over HTTP', () => {
  it('login with a proof binds the session to the key thumbprint; a refresh with a proof by that key rotates', async () => {
    const key = await deviceKey()
    const b = srv.browser()
    const id = await boundSignIn(b, key)
    expect((await srv.store.findSession(id))?.dpopJkt).toBe(await calculateJwkThumbprint(key.jwk, 'sha256'))
    const res = await refreshWith(b, key)
    expect(res.status, res.text).toBe(200)
    expect((await b.me()).status).toBe(200)
  })

  it('a login without a proof stays unbound and refreshes as before (when-offered)', async () => {
    const b = srv.browser()
    const res = await b.signIn(await srv.user())
    expect((await srv.store.findSession(res.body.session.id))?.dpopJkt).toBeNull()
    expect((await b.refresh()).status).toBe(200)
  })

  it('stolen cookie replayed inside the grace, without a proof: 401, victim session revoked, refresh_without_proof logged', async () => {
    const key = await deviceKey()
    const victim = srv.browser()
    const id = await boundSignIn(victim, key)
    const thief = thiefWithCookiesOf(victim) // the refresh token the victim is about to rotate
    expect((await refreshWith(victim, key)).status).toBe(200)
    srv.clock.advance(3) // well inside the 10 s grace: without binding this answered 200 and the same successor
    logs.clear()
    const stolen = await thief.refresh()
    expectError(stolen, 401, 'unauthenticated')
    expect(stolen.setCookies.join('\n')).toMatch(/__Secure-refresh=;/)
    expect((await srv.store.findSession(id))?.revokedReason).toBe('refresh_without_proof')
    expect(logs.named('refresh_without_proof')).toEqual([expect.objectContaining({ level: 'warn', session: id, reason: 'missing' })])
    expect(JSON.stringify(logs.events)).not.toContain(victim.cookie('__Secure-refresh')!)
    // The victim is signed out everywhere: access token revoked at once, refresh refused.
    expectError(await victim.me(), 401, 'unauthenticated')
    expect((await refreshWith(victim, key)).status).toBe(401)
  })

  it('stolen current cookie after the grace, with the thief own key: refused as wrong_key, session revoked', async () => {
    const [key, thiefKey] = [await deviceKey(), await deviceKey()]
    const victim = srv.browser()
    const id = await boundSignIn(victim, key)
    expect((await refreshWith(victim, key)).status).toBe(200)
    srv.clock.advance(60)
    const thief = thiefWithCookiesOf(victim)
    logs.clear()
    expectError(await refreshWith(thief, thiefKey), 401, 'unauthenticated')
    expect(logs.named('refresh_without_proof')).toEqual([expect.objectContaining({ session: id, reason: 'wrong_key' })])
    expect((await srv.store.findSession(id))?.revokedAt).not.toBeNull()
  })

  it('four tabs racing one refresh cookie, each with its own proof by the device key: all 200, one successor', async () => {
    const key = await deviceKey()
    const b = srv.browser()
    const id = await boundSignIn(b, key)
    const tabs = [b, thiefWithCookiesOf(b), thiefWithCookiesOf(b), thiefWithCookiesOf(b)]
    const results = await Promise.all(tabs.map((t) => refreshWith(t, key)))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200])
    expect(new Set(tabs.map((t) => t.cookie('__Secure-refresh'))).size).toBe(1)
    expect((await srv.store.findSession(id))?.revokedAt).toBeNull()
  })

  it('a replayed proof, a proof for another URL or method: refused and the session revoked', async () => {
    const key = await deviceKey()
    for (const make of [
      async (b: Browser) => {
        const p = await proof(key, '/auth/refresh')
        expect((await b.refresh({ headers: { DPoP: p } })).status).toBe(200)
        return p // used once already
      },
      async () => proof(key, '/auth/login'),
      async () => proof(key, '/auth/refresh', { htm: 'GET' }),
    ]) {
      const b = srv.browser()
      const id = await boundSignIn(b, key)
      const p = await make(b)
      srv.clock.advance(1)
      expectError(await b.refresh({ headers: { DPoP: p } }), 401, 'unauthenticated')
      expect((await srv.store.findSession(id))?.revokedReason).toBe('refresh_without_proof')
    }
  })

  it('a skewed client clock: stale proof by the right key answers a DPoP-Nonce, revokes nothing, and the retry with it works', async () => {
    const key = await deviceKey()
    const b = srv.browser()
    const skewed = Math.floor(srv.clock.t / 1000) - 900 // the device is 15 minutes behind
    const name = await srv.user()
    await b.csrf()
    const first = await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { DPoP: await proof(key, '/auth/login', { iat: skewed }) } })
    expectError(first, 401, 'unauthenticated')
    const nonce = first.headers.get('dpop-nonce')!
    expect(nonce).toBeTruthy()
    const login = await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { DPoP: await proof(key, '/auth/login', { iat: skewed, nonce }) } })
    expect(login.status, login.text).toBe(200)
    const id = login.body.session.id as string
    srv.clock.advance(200) // the nonce has expired
    const stale = await b.refresh({ headers: { DPoP: await proof(key, '/auth/refresh', { iat: skewed + 200 }) } })
    expectError(stale, 401, 'unauthenticated')
    expect(stale.setCookies).toEqual([]) // keeps its cookies to retry
    expect((await srv.store.findSession(id))?.revokedAt).toBeNull()
    const retry = await b.refresh({ headers: { DPoP: await proof(key, '/auth/refresh', { iat: skewed + 200, nonce: stale.headers.get('dpop-nonce')! }) } })
    expect(retry.status, retry.text).toBe(200)
  })

  it('a made-up refresh token around a bound session id revokes nothing (no denial of service by session id)', async () => {
    const key = await deviceKey()
    const name = await srv.user()
    const t = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD }, headers: { DPoP: await proof(key, '/auth/token') } })
    expect(t.status, t.text).toBe(200)
    const sid = (t.body.refreshToken as string).split('.')[0]!
    const fake = `${sid}.${'A'.repeat(43)}`
    expectError(await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: fake } }), 401, 'unauthenticated')
    expect((await srv.store.findSession(sid))?.revokedAt).toBeNull()
    // The real native client refreshes with its proof; without one, its token is refused and the session revoked.
    const ok = await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: t.body.refreshToken }, headers: { DPoP: await proof(key, '/auth/refresh') } })
    expect(ok.status, ok.text).toBe(200)
    expectError(await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: ok.body.refreshToken } }), 401, 'unauthenticated')
    expect((await srv.store.findSession(sid))?.revokedReason).toBe('refresh_without_proof')
  })

  it('a bad proof offered at login is refused (400), never silently downgraded to an unbound session', async () => {
    const key = await deviceKey()
    const b = srv.browser()
    const name = await srv.user()
    await b.csrf()
    const res = await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { DPoP: await proof(key, '/auth/refresh') } })
    expectError(res, 400, 'bad_request')
    expect(res.setCookies.filter((c) => c.startsWith('__Secure-refresh'))).toEqual([])
  })

  it('a password change keeps the new session on the same device key', async () => {
    const key = await deviceKey()
    const b = srv.browser()
    const old = await boundSignIn(b, key)
    const jkt = (await srv.store.findSession(old))!.dpopJkt
    const res = await b.post('/auth/password', { currentPassword: PASSWORD, newPassword: 'another-password-2' })
    expect(res.status, res.text).toBe(204)
    const fresh = await refreshWith(b, key)
    expect(fresh.status, fresh.text).toBe(200)
    expect((await srv.store.findSession(fresh.body.session.id))?.dpopJkt).toBe(jkt)
  })

  it('CORS: an allowed SPA origin may send DPoP in a preflight and read DPoP-Nonce', async () => {
    const pre = await fetch(`${srv.url}/auth/refresh`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, dpop, x-csrf-token' },
    })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/\bDPoP\b/)
    const res = await fetch(`${srv.url}/auth/session`, { headers: { Origin: 'http://localhost:5173' } })
    expect(res.headers.get('access-control-expose-headers')).toMatch(/\bDPoP-Nonce\b/)
  })
})

describe('deviceBinding: required and off', () => {
  it('required: no session starts without a proof; off: a proof is ignored and nothing is bound', async () => {
    const req = await startServer({ deviceBinding: 'required' })
    const off = await startServer({ deviceBinding: 'off' })
    try {
      const b = req.browser()
      const name = await req.user()
      expectError(await b.login(name), 400, 'bad_request')
      const key = await deviceKey()
      const b2 = off.browser()
      await b2.csrf()
      const res = await b2.post('/auth/login', { username: await off.user(), password: PASSWORD }, { headers: { DPoP: 'not-even-a-jwt' } })
      expect(res.status, res.text).toBe(200)
      expect((await off.store.findSession(res.body.session.id))?.dpopJkt).toBeNull()
      expect((await b2.refresh()).status).toBe(200)
      void key
    } finally {
      await Promise.all([req.close(), off.close()])
    }
  })
})
