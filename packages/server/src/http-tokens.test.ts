import { SignJWT, createLocalJWKSet, generateKeyPair, jwtVerify, type JWK } from 'jose'
import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser, Clock, PASSWORD, decodeJwt, expectError, nativeRequest, startServer, type TestServer } from './testing/harness.ts'

describe('access JWT', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startServer()
  })
  afterAll(async () => {
    await srv?.close()
  })

  const withAccess = (token: string): Browser => {
    const b = srv.browser()
    b.setCookie('__Host-access', token)
    return b
  }

  it('is an at+jwt signed with EdDSA, its kid in the JWKS, with the RFC 9068 claims and sid', async () => {
    const b = srv.browser()
    const name = await srv.user()
    const login = await b.signIn(name)
    const token = b.cookie('__Host-access')!
    const { header, payload } = decodeJwt(token)
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'EdDSA' })
    const jwks = (await b.get('/.well-known/jwks.json')).body
    expect(jwks.keys.map((k: JWK) => k.kid)).toContain(header.kid)
    for (const claim of ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'sid']) expect(payload, claim).toHaveProperty(claim)
    expect(payload.sid).toBe(login.body.session.id)
    expect(payload.sub).toBe(login.body.user.id)
    expect(payload.exp - payload.iat).toBe(300)
    expect(payload.client_id).toBe('bastion-web')
    // Another service verifies it with nothing but the JWKS.
    const verified = await jwtVerify(token, createLocalJWKSet(jwks), {
      typ: 'at+jwt',
      issuer: payload.iss,
      audience: payload.aud,
      algorithms: ['EdDSA'],
      currentDate: new Date(srv.clock.t),
    })
    expect(verified.payload.sub).toBe(login.body.user.id)
    expect(verified.protectedHeader.kid).toBe(header.kid)
  })

  it('a bearer token says client_id bastion-native', async () => {
    const res = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: await srv.user(), password: PASSWORD } })
    expect(decodeJwt(res.body.accessToken).payload.client_id).toBe('bastion-native')
  })

  it('refuses alg none, HS256 keyed with the public key, a wrong typ, a tampered payload, a foreign key', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const real = b.cookie('__Host-access')!
    const { header, payload } = decodeJwt(real)
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const [h, p, sig] = real.split('.') as [string, string, string]

    const none = `${enc({ ...header, alg: 'none' })}.${p}.`
    const noneNoKid = `${enc({ alg: 'none', typ: 'at+jwt' })}.${p}.`
    const jwk = (await b.get('/.well-known/jwks.json')).body.keys.find((k: JWK) => k.kid === header.kid)
    const hsInput = `${enc({ ...header, alg: 'HS256' })}.${p}`
    const hs256 = `${hsInput}.${createHmac('sha256', JSON.stringify(jwk)).update(hsInput).digest('base64url')}`
    const hs256x = `${hsInput}.${createHmac('sha256', Buffer.from(jwk.x, 'base64url')).update(hsInput).digest('base64url')}`
    const tampered = `${h}.${enc({ ...payload, sub: 'someone-else' })}.${sig}`
    const wrongTyp = await srv.signWithServerKey(payload, { typ: 'JWT' })
    const noTyp = await srv.signWithServerKey(payload, { typ: undefined })
    const other = await generateKeyPair('EdDSA', { extractable: true })
    const foreign = await new SignJWT(payload).setProtectedHeader({ ...header }).sign(other.privateKey)
    const wrongAud = await srv.signWithServerKey({ ...payload, aud: 'another-api' })
    const wrongIss = await srv.signWithServerKey({ ...payload, iss: 'https://evil.example' })
    const noSid = await srv.signWithServerKey({ ...payload, sid: undefined })
    // Sanity: the key reader really produces accepted tokens, so the refusals above are about the one defect.
    expect((await withAccess(await srv.signWithServerKey(payload)).me()).status).toBe(200)

    for (const [label, token] of Object.entries({ none, noneNoKid, hs256, hs256x, tampered, wrongTyp, noTyp, foreign, wrongAud, wrongIss, noSid })) {
      const res = await withAccess(token).me()
      expect({ label, status: res.status, code: res.body?.error?.code }).toEqual({ label, status: 401, code: 'unauthenticated' })
      const bearer = await nativeRequest(srv, 'GET', '/api/me', { headers: { Authorization: `Bearer ${token}` } })
      expect({ label, status: bearer.status }).toEqual({ label, status: 401 })
      expect(bearer.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    }
    expect((await withAccess(real).me()).status).toBe(200)
  })

  it('an expired token answers 401 token_expired (cookie and bearer)', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const cached = b.cookie('__Host-access')!
    expect((await b.me()).status).toBe(200) // now in the verification cache
    const { payload } = decodeJwt(cached)
    const neverSeen = await srv.signWithServerKey({ ...payload, jti: 'fresh-jti' })
    srv.clock.advance(306)
    expectError(await withAccess(cached).me(), 401, 'token_expired')
    expectError(await withAccess(neverSeen).me(), 401, 'token_expired')
    const bearer = await nativeRequest(srv, 'GET', '/api/me', { headers: { Authorization: `Bearer ${neverSeen}` } })
    expectError(bearer, 401, 'token_expired')
    expect(bearer.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
  })
})

describe('CSRF cookie across the session life', () => {
  it('logout after the access cookie expired still revokes the session (found through the refresh cookie)', async () => {
    const srv = await startServer()
    try {
      const b = srv.browser({ now: srv.clock.now })
      await b.signIn(await srv.user())
      const refresh = b.cookie('__Secure-refresh')!
      const csrf = b.cookie('__Host-csrf')!
      srv.clock.advance(301)
      expect(b.cookie('__Host-access')).toBeUndefined()
      expect((await b.logout()).status).toBe(204)
      const thief = srv.browser()
      thief.setCookie('__Secure-refresh', refresh, '/auth')
      thief.setCookie('__Host-csrf', csrf)
      expectError(await thief.refresh(), 401, 'unauthenticated')
    } finally {
      await srv.close()
    }
  })

  // Regression (found by this suite): with the access cookie expired, GET /auth/csrf treated the
  // browser as anonymous and replaced its session-bound token with a pre-session one, so every
  // refresh then failed csrf_failed and a harmless GET signed the user out.
  it('GET /auth/csrf while the access token is expired does not break the refresh of a live session', async () => {
    const srv = await startServer()
    try {
      const b = srv.browser({ now: srv.clock.now })
      await b.signIn(await srv.user())
      srv.clock.advance(301)
      await b.csrf()
      const res = await b.refresh()
      expect(res.status, res.text).toBe(200)
      expect((await b.me()).status).toBe(200)
    } finally {
      await srv.close()
    }
  })

  // Regression (found by this suite): a refresh did not renew __Host-csrf, whose Max-Age was fixed at
  // login, so an active session lost its CSRF cookie at refreshTtl and died long before sessionMaxAge.
  it('an active session outlives the CSRF cookie set at login (refresh renews it)', async () => {
    const srv = await startServer({ accessTtl: 30, refreshTtl: 100, sessionMaxAge: 1000 })
    try {
      const b = srv.browser({ now: srv.clock.now })
      await b.signIn(await srv.user())
      for (const step of [25, 25, 25, 20]) {
        srv.clock.advance(step)
        expect((await b.refresh()).status).toBe(200)
      }
      // 95 s after login, last used now; idle 40 s (< refreshTtl 100): the session is alive.
      srv.clock.advance(40)
      expectError(await b.me(), 401, 'token_expired')
      const res = await b.refresh()
      expect(res.status, res.text).toBe(200)
      expect((await b.echo()).status).toBe(200)
    } finally {
      await srv.close()
    }
  })
})

describe('store down', () => {
  it('fails closed with 503 unavailable and Retry-After, never 500 or a success', async () => {
    const srv = await startServer()
    try {
      const b = srv.browser()
      const name = await srv.user()
      await b.signIn(name)
      const late = srv.browser()
      await late.csrf()
      await srv.store.close()
      for (const res of [
        await late.login(name),
        await b.refresh(),
        await b.get('/auth/session'),
        await b.get('/auth/sessions'),
        await b.post('/auth/logout-all'),
        await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD } }),
      ]) {
        expectError(res, 503, 'unavailable')
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
        expect(res.setCookies.filter((c) => !/Max-Age=0/.test(c))).toEqual([])
      }
    } finally {
      await srv.close()
    }
  })
})

describe('restart persistence', () => {
  it('keys and sessions survive a restart on the same file and secret', async () => {
    const first = await startServer()
    const file = first.file
    const clock = first.clock
    const b = new Browser(first)
    const name = await first.user()
    await b.signIn(name)
    const revoked = new Browser(first)
    const r = await revoked.signIn(name)
    expect((await b.request('DELETE', `/auth/sessions/${r.body.session.id}`)).status).toBe(204)
    await first.stop()

    const second = await startServer({ file, clock })
    try {
      const again = new Browser(second)
      for (const [k, c] of b.jar) again.jar.set(k, c)
      expect((await again.me()).status).toBe(200) // old access cookie, verified with the persisted key
      expect((await again.refresh()).status).toBe(200)
      expect((await again.me()).status).toBe(200)
      // A session revoked before the restart stays revoked for its unexpired access token.
      const stale = new Browser(second)
      for (const [k, c] of revoked.jar) stale.jar.set(k, c)
      expectError(await stale.me(), 401, 'unauthenticated')
    } finally {
      await second.stop()
    }

    // Another secret cannot unseal the signing key: the start fails (a clear error, not a server answering 500s).
    await expect(startServer({ file, clock, secret: 'b'.repeat(40) })).rejects.toThrow()
    await (await startServer({ file, clock })).close()
  })
})

describe('key rotation', () => {
  it('old tokens still verify, new ones use the new kid, the old key leaves the JWKS after accessTtl + 120 s', async () => {
    const srv = await startServer()
    try {
      const old = srv.browser()
      await old.signIn(await srv.user())
      const oldKid = decodeJwt(old.cookie('__Host-access')!).header.kid
      const newKid = await srv.bastion.rotateKeys()
      expect(newKid).not.toBe(oldKid)
      const jwks = (await old.get('/.well-known/jwks.json')).body
      expect(jwks.keys.map((k: JWK) => k.kid).sort()).toEqual([oldKid, newKid].sort())
      for (const k of jwks.keys) expect(k).not.toHaveProperty('d')
      expect((await old.me()).status).toBe(200)
      // An external verifier with the new JWKS still accepts the old token.
      await jwtVerify(old.cookie('__Host-access')!, createLocalJWKSet(jwks), { currentDate: new Date(srv.clock.t) })

      const fresh = srv.browser()
      await fresh.signIn(await srv.user())
      expect(decodeJwt(fresh.cookie('__Host-access')!).header.kid).toBe(newKid)
      expect((await old.refresh()).status).toBe(200)
      expect(decodeJwt(old.cookie('__Host-access')!).header.kid).toBe(newKid)

      srv.clock.advance(300 + 121)
      const later = (await old.get('/.well-known/jwks.json')).body
      expect(later.keys.map((k: JWK) => k.kid)).toEqual([newKid])
      await old.refresh()
      expect((await old.me()).status).toBe(200)
    } finally {
      await srv.close()
    }
  })

  it('a rotation made by another instance (or the CLI) is picked up: this one signs with the new key within its reload interval', async () => {
    const a = await startServer()
    const b = await startServer({ file: a.file, keyReloadInterval: 0.1 })
    try {
      const before = b.browser()
      await before.signIn(await b.user())
      const oldKid = decodeJwt(before.cookie('__Host-access')!).header.kid
      const newKid = await a.bastion.rotateKeys()
      await new Promise((r) => setTimeout(r, 400))
      const after = b.browser()
      await after.signIn(await b.user())
      expect(decodeJwt(after.cookie('__Host-access')!).header.kid).toBe(newKid)
      expect(newKid).not.toBe(oldKid)
      // Tokens B signed with the old key still pass everywhere.
      const onA = a.browser()
      onA.setCookie('__Host-access', before.cookie('__Host-access')!)
      expect((await onA.me()).status).toBe(200)
    } finally {
      await b.stop()
      await a.close()
    }
  })

  it('a key made by another instance is learnt on first sight: its token verifies here and the JWKS here lists it, at once', async () => {
    const a = await startServer()
    const b = await startServer({ file: a.file })
    try {
      const newKid = await b.bastion.rotateKeys() // A's periodic reload is 30 s away
      const user = b.browser()
      await user.signIn(await b.user())
      expect(decodeJwt(user.cookie('__Host-access')!).header.kid).toBe(newKid)
      const onA = a.browser()
      onA.setCookie('__Host-access', user.cookie('__Host-access')!)
      expect((await onA.me()).status).toBe(200)
      const c = await startServer({ file: a.file })
      try {
        const newest = await b.bastion.rotateKeys()
        const jwks = (await c.browser().get('/.well-known/jwks.json')).body
        expect(jwks.keys.map((k: JWK) => k.kid)).toContain(newest)
      } finally {
        await c.stop()
      }
    } finally {
      await b.stop()
      await a.close()
    }
  })

  it('a staged rotation: the new key is in every JWKS at once, no instance signs with it before its time, all do after', async () => {
    const clock = new Clock()
    const a = await startServer({ clock })
    const b = await startServer({ file: a.file, clock, keyReloadInterval: 0.1 })
    try {
      const signedKid = async (srv: typeof a) => {
        const u = srv.browser()
        await u.signIn(await srv.user())
        return { kid: decodeJwt(u.cookie('__Host-access')!).header.kid as string, token: u.cookie('__Host-access')! }
      }
      const old = await signedKid(a)
      const newKid = await a.bastion.rotateKeys({ activateIn: 60 })
      await new Promise((r) => setTimeout(r, 300)) // B's periodic reload runs
      for (const srv of [a, b]) {
        const kids = (await srv.browser().get('/.well-known/jwks.json')).body.keys.map((k: JWK) => k.kid)
        expect(kids).toEqual(expect.arrayContaining([old.kid, newKid]))
        expect((await signedKid(srv)).kid).toBe(old.kid)
      }
      clock.advance(61)
      const fresh = await Promise.all([signedKid(a), signedKid(b)])
      expect(fresh.map((f) => f.kid)).toEqual([newKid, newKid])
      for (const srv of [a, b]) {
        for (const token of [old.token, fresh[0]!.token, fresh[1]!.token]) {
          const u = srv.browser()
          u.setCookie('__Host-access', token)
          expect((await u.me()).status).toBe(200)
        }
      }
    } finally {
      await b.stop()
      await a.close()
    }
  })

  it('a new key seen by many requests at once: all wait for the one reload and pass (none refused while it runs)', async () => {
    const a = await startServer()
    const b = await startServer({ file: a.file })
    try {
      await b.bastion.rotateKeys() // A's periodic reload is 30 s away
      const user = b.browser()
      await user.signIn(await b.user())
      const token = user.cookie('__Host-access')!
      const statuses = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const onA = a.browser()
          onA.setCookie('__Host-access', token)
          return (await onA.me()).status
        }),
      )
      expect(statuses).toEqual(Array(20).fill(200))
    } finally {
      await b.stop()
      await a.close()
    }
  })

  it('a token signed by the retired key after it left the JWKS is refused even if its exp is forged into the future', async () => {
    const srv = await startServer()
    try {
      const b = srv.browser()
      await b.signIn(await srv.user())
      const { payload } = decodeJwt(b.cookie('__Host-access')!)
      const longLived = await srv.signWithServerKey({ ...payload, exp: payload.exp + 100_000, jti: 'long' })
      await srv.bastion.rotateKeys()
      srv.clock.advance(300 + 121)
      const thief = srv.browser()
      thief.setCookie('__Host-access', longLived)
      expectError(await thief.me(), 401, 'unauthenticated')
    } finally {
      await srv.close()
    }
  })
})

// Keep ES256 honest too: the algorithm option changes the keys and tokens end to end.
describe('ES256 keys', () => {
  it('signs with ES256 and publishes an EC key', async () => {
    const srv = await startServer({ algorithm: 'ES256' })
    try {
      const b = srv.browser()
      await b.signIn(await srv.user())
      expect(decodeJwt(b.cookie('__Host-access')!).header.alg).toBe('ES256')
      const jwks = (await b.get('/.well-known/jwks.json')).body
      expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' })
      expect(jwks.keys[0]).not.toHaveProperty('d')
      await jwtVerify(b.cookie('__Host-access')!, createLocalJWKSet(jwks), { currentDate: new Date(srv.clock.t) })
      // An EdDSA token from a foreign key claiming this kid is refused (alg must match the key).
      const other = await generateKeyPair('EdDSA', { extractable: true })
      const { header, payload } = decodeJwt(b.cookie('__Host-access')!)
      const forged = await new SignJWT(payload).setProtectedHeader({ ...header, alg: 'EdDSA' }).sign(other.privateKey)
      const thief = srv.browser()
      thief.setCookie('__Host-access', forged)
      expectError(await thief.me(), 401, 'unauthenticated')
    } finally {
      await srv.close()
    }
  })
})
