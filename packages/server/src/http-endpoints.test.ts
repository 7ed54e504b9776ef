import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  PASSWORD,
  cookieValue,
  expectError,
  nativeRequest,
  setCookieFor,
  startServer,
  uniqueName,
  type TestServer,
} from './testing/harness.ts'

let srv: TestServer
beforeAll(async () => {
  srv = await startServer()
})
afterAll(async () => {
  await srv?.close()
})

describe('contract endpoints (browser)', () => {
  it('GET /auth/csrf starts a pre-session and sets __Host-csrf', async () => {
    const b = srv.browser()
    const res = await b.get('/auth/csrf')
    expect(res.status).toBe(200)
    expect(typeof res.body.csrfToken).toBe('string')
    expect(b.cookie('__Host-csrf')).toMatch(/^p\./)
  })

  it('POST /auth/register answers 201 {user}; a duplicate username answers 400 bad_request', async () => {
    const b = srv.browser()
    const name = uniqueName('reg')
    const res = await b.register(name)
    expect(res.status).toBe(201)
    expect(res.body.user).toMatchObject({ username: name })
    expect(typeof res.body.user.id).toBe('string')
    expect(res.body.user).not.toHaveProperty('passwordHash')
    expect(res.setCookies.filter((c) => c.startsWith('__Host-access') || c.startsWith('__Secure-refresh'))).toEqual([])
    expectError(await b.register(name), 400, 'bad_request')
    // Case and compatibility forms are the same account.
    expectError(await b.register(name.toUpperCase()), 400, 'bad_request')
    const fullwidth = String.fromCharCode(name.charCodeAt(0) - 0x61 + 0xff41) + name.slice(1)
    expectError(await b.register(fullwidth), 400, 'bad_request')
  })

  it('POST /auth/login answers {user, session:{id, expiresAt}} and no authenticating token outside cookies', async () => {
    const b = srv.browser()
    const name = await srv.user()
    const res = await b.login(name)
    expect(res.status).toBe(200)
    expect(res.body.user).toMatchObject({ username: name })
    expect(typeof res.body.session.id).toBe('string')
    expect(Number.isNaN(Date.parse(res.body.session.expiresAt))).toBe(false)
    const access = cookieValue(setCookieFor(res, '__Host-access'))!
    const refresh = cookieValue(setCookieFor(res, '__Secure-refresh'))!
    expect(access.length).toBeGreaterThan(20)
    expect(refresh.length).toBeGreaterThan(20)
    expect(res.text).not.toContain(access)
    expect(res.text).not.toContain(refresh)
    expect(res.text).not.toContain(refresh.split('.')[1]!)
    expect(JSON.stringify(res.body)).not.toMatch(/accessToken|refreshToken/)
    res.headers.forEach((v, k) => {
      if (k === 'set-cookie') return
      expect(v).not.toContain(access)
      expect(v).not.toContain(refresh)
    })
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('POST /auth/refresh rotates the refresh token and answers {session}', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const before = b.cookie('__Secure-refresh')
    const beforeAccess = b.cookie('__Host-access')
    const res = await b.refresh()
    expect(res.status).toBe(200)
    expect(typeof res.body.session.id).toBe('string')
    expect(b.cookie('__Secure-refresh')).not.toBe(before)
    expect(b.cookie('__Host-access')).not.toBe(beforeAccess)
    expect(res.text).not.toContain(b.cookie('__Secure-refresh')!)
    expect(res.text).not.toContain(b.cookie('__Host-access')!)
    expect((await b.me()).status).toBe(200)
  })

  it('POST /auth/logout answers 204, clears all three cookies with Max-Age=0, and ends the session', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const access = b.cookie('__Host-access')!
    const refresh = b.cookie('__Secure-refresh')!
    const csrf = b.cookie('__Host-csrf')!
    const res = await b.logout()
    expect(res.status).toBe(204)
    for (const name of ['__Host-access', '__Secure-refresh', '__Host-csrf']) {
      expect(setCookieFor(res, name), name).toMatch(new RegExp(`^${name}=; Max-Age=0;`))
    }
    expect(setCookieFor(res, '__Secure-refresh')).toContain('Path=/auth')
    expect(b.jar.size).toBe(0)
    // The old cookies, replayed by whoever kept them, are dead at once.
    const replay = srv.browser()
    replay.setCookie('__Host-access', access)
    expectError(await replay.me(), 401, 'unauthenticated')
    replay.setCookie('__Secure-refresh', refresh, '/auth')
    replay.setCookie('__Host-csrf', csrf)
    expectError(await replay.refresh(), 401, 'unauthenticated')
  })

  it('GET /auth/session answers 200 {user, session} signed in, 401 otherwise', async () => {
    const b = srv.browser()
    expectError(await b.get('/auth/session'), 401, 'unauthenticated')
    const name = await srv.user()
    const login = await b.signIn(name)
    const res = await b.get('/auth/session')
    expect(res.status).toBe(200)
    expect(res.body.user.username).toBe(name)
    expect(res.body.session.id).toBe(login.body.session.id)
  })

  it('GET /auth/sessions lists live sessions with device (user agent), createdAt, lastUsedAt and the current flag', async () => {
    const name = await srv.user()
    const phone = srv.browser({ userAgent: 'Phone/1.0' })
    const laptop = srv.browser({ userAgent: 'Laptop/2.0' })
    const p = await phone.signIn(name)
    const l = await laptop.signIn(name)
    const res = await laptop.get('/auth/sessions')
    expect(res.status).toBe(200)
    const sessions = res.body.sessions as any[]
    expect(sessions).toHaveLength(2)
    const byId = Object.fromEntries(sessions.map((s) => [s.id, s]))
    expect(byId[l.body.session.id]).toMatchObject({ userAgent: 'Laptop/2.0', current: true })
    expect(byId[p.body.session.id]).toMatchObject({ userAgent: 'Phone/1.0', current: false })
    for (const s of sessions) {
      expect(Number.isNaN(Date.parse(s.createdAt))).toBe(false)
      expect(Number.isNaN(Date.parse(s.lastUsedAt))).toBe(false)
    }
    expect(res.text).not.toContain(laptop.cookie('__Secure-refresh')!)
    expectError(await srv.browser().get('/auth/sessions'), 401, 'unauthenticated')
  })

  it('DELETE /auth/sessions/:id answers 204; that session can neither refresh nor use its access token, at once', async () => {
    const name = await srv.user()
    const victimDevice = srv.browser()
    const me = srv.browser()
    const v = await victimDevice.signIn(name)
    await me.signIn(name)
    expect((await victimDevice.me()).status).toBe(200)
    const res = await me.request('DELETE', `/auth/sessions/${v.body.session.id}`)
    expect(res.status).toBe(204)
    expect(res.setCookies).toEqual([]) // not this browser's session: its cookies stay
    expectError(await victimDevice.me(), 401, 'unauthenticated')
    expect((await victimDevice.refresh()).status).toBe(401)
    expect((await me.me()).status).toBe(200)
    // Deleting it again: it is gone.
    expectError(await me.request('DELETE', `/auth/sessions/${v.body.session.id}`), 404, 'not_found')
  })

  it("DELETE another user's session id answers 404 not_found and leaves it alive", async () => {
    const alice = srv.browser()
    const mallory = srv.browser()
    const a = await alice.signIn(await srv.user())
    await mallory.signIn(await srv.user())
    expectError(await mallory.request('DELETE', `/auth/sessions/${a.body.session.id}`), 404, 'not_found')
    expectError(await mallory.request('DELETE', '/auth/sessions/does-not-exist'), 404, 'not_found')
    expect((await alice.me()).status).toBe(200)
  })

  it('DELETE of this browser\'s own session answers 204 and clears its cookies', async () => {
    const b = srv.browser()
    const login = await b.signIn(await srv.user())
    const res = await b.request('DELETE', `/auth/sessions/${login.body.session.id}`)
    expect(res.status).toBe(204)
    expect(setCookieFor(res, '__Host-access')).toMatch(/Max-Age=0/)
    expect(b.cookie('__Host-access')).toBeUndefined()
    expectError(await b.get('/auth/session'), 401, 'unauthenticated')
  })

  it('DELETE /auth/sessions/:id needs the CSRF header', async () => {
    const b = srv.browser()
    const login = await b.signIn(await srv.user())
    expectError(await b.request('DELETE', `/auth/sessions/${login.body.session.id}`, { csrf: false }), 403, 'csrf_failed')
    expect((await b.me()).status).toBe(200)
  })

  it('POST /auth/logout-all answers 204 and ends every session of the user', async () => {
    const name = await srv.user()
    const one = srv.browser()
    const two = srv.browser()
    await one.signIn(name)
    await two.signIn(name)
    const other = srv.browser()
    await other.signIn(await srv.user())
    const res = await one.post('/auth/logout-all')
    expect(res.status).toBe(204)
    expectError(await two.me(), 401, 'unauthenticated')
    expect((await two.refresh()).status).toBe(401)
    expect((await one.refresh()).status).toBe(401)
    expect((await other.me()).status).toBe(200)
  })

  it('POST /auth/password: 204, others revoked, this browser gets new cookies and stays in, old password fails, new works', async () => {
    const name = await srv.user()
    const me = srv.browser()
    const other = srv.browser()
    await me.signIn(name)
    await other.signIn(name)
    const oldAccess = me.cookie('__Host-access')
    const oldRefresh = me.cookie('__Secure-refresh')
    const res = await me.post('/auth/password', { currentPassword: PASSWORD, newPassword: 'a-brand-new-password' })
    expect(res.status).toBe(204)
    expect(setCookieFor(res, '__Host-access')).toBeTruthy()
    expect(setCookieFor(res, '__Secure-refresh')).toBeTruthy()
    expect(setCookieFor(res, '__Host-csrf')).toBeTruthy()
    expect(me.cookie('__Host-access')).not.toBe(oldAccess)
    expect(me.cookie('__Secure-refresh')).not.toBe(oldRefresh)
    expect((await me.me()).status).toBe(200)
    expect((await me.echo()).status).toBe(200)
    expect((await me.refresh()).status).toBe(200)
    expectError(await other.me(), 401, 'unauthenticated')
    expect((await other.refresh()).status).toBe(401)
    expectError(await srv.browser().login(name, PASSWORD), 401, 'invalid_credentials')
    expect((await srv.browser().login(name, 'a-brand-new-password')).status).toBe(200)
    // The old cookies of this very browser are dead too (the session was rotated, not kept).
    const thief = srv.browser()
    thief.setCookie('__Host-access', oldAccess!)
    expectError(await thief.me(), 401, 'unauthenticated')
  })

  it('POST /auth/password with a wrong current password answers 401 invalid_credentials and changes nothing', async () => {
    const name = await srv.user()
    const me = srv.browser()
    await me.signIn(name)
    expectError(await me.post('/auth/password', { currentPassword: 'not-my-password', newPassword: 'another-password-1' }), 401, 'invalid_credentials')
    expect((await me.me()).status).toBe(200)
    expect((await srv.browser().login(name, PASSWORD)).status).toBe(200)
    expectError(await me.post('/auth/password', { currentPassword: PASSWORD, newPassword: 'short' }), 400, 'bad_request')
  })

  it('GET /.well-known/jwks.json lists public keys with kid and alg, no private members', async () => {
    const res = await srv.browser().get('/.well-known/jwks.json')
    expect(res.status).toBe(200)
    expect(res.body.keys.length).toBeGreaterThanOrEqual(1)
    for (const k of res.body.keys) {
      expect(typeof k.kid).toBe('string')
      expect(k.alg).toBe('EdDSA')
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(priv)
    }
  })
})

describe('bearer (native clients)', () => {
  const tokenFor = async (name: string) => {
    const res = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    return res
  }

  it('POST /auth/token answers accessToken/refreshToken/expiresIn and sets no cookie', async () => {
    const res = await tokenFor(await srv.user())
    expect(typeof res.body.accessToken).toBe('string')
    expect(typeof res.body.refreshToken).toBe('string')
    expect(res.body.expiresIn).toBe(300)
    expect(res.setCookies).toEqual([])
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('POST /auth/token from a browser (Sec-Fetch-Site present) answers 403 forbidden_origin', async () => {
    const name = await srv.user()
    const b = srv.browser()
    expectError(await b.post('/auth/token', { username: name, password: PASSWORD }), 403, 'forbidden_origin')
    expectError(
      await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD }, headers: { 'Sec-Fetch-Site': 'none' } }),
      403,
      'forbidden_origin',
    )
  })

  it('POST /auth/token with a wrong password answers 401 invalid_credentials', async () => {
    expectError(await nativeRequest(srv, 'POST', '/auth/token', { body: { username: await srv.user(), password: 'nope-nope-nope' } }), 401, 'invalid_credentials')
  })

  it('bearer requests need no CSRF token and ignore cookies', async () => {
    const name = await srv.user()
    const { body } = await tokenFor(name)
    const auth = { Authorization: `Bearer ${body.accessToken}` }
    const me = await nativeRequest(srv, 'GET', '/api/me', { headers: auth })
    expect(me.status).toBe(200)
    expect(me.body).toMatchObject({ user: { username: name }, via: 'bearer' })
    const echo = await nativeRequest(srv, 'POST', '/api/echo', { headers: auth, body: { x: 1 } })
    expect(echo.status).toBe(200)
    // Another user's browser cookies riding along are ignored: the bearer identity wins.
    const other = srv.browser()
    await other.signIn(await srv.user())
    const mixed = await nativeRequest(srv, 'POST', '/api/echo', {
      headers: { ...auth, Cookie: other.cookieHeader('/api/echo') },
      body: { x: 2 },
    })
    expect(mixed.status).toBe(200)
    expect(mixed.body).toMatchObject({ username: name, via: 'bearer' })
  })

  it('a bad bearer token answers 401 with WWW-Authenticate: Bearer error="invalid_token", even with a valid cookie', async () => {
    for (const value of ['Bearer nope.nope.nope', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a.b.c.d.e']) {
      const res = await nativeRequest(srv, 'GET', '/api/me', { headers: { Authorization: value } })
      expectError(res, 401, 'unauthenticated')
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    }
    const b = srv.browser()
    await b.signIn(await srv.user())
    const res = await b.me({ headers: { Authorization: 'Bearer forged.token.value' } })
    expectError(res, 401, 'unauthenticated')
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    const unsafe = await b.echo({}, { headers: { Authorization: 'Bearer forged.token.value' } })
    expectError(unsafe, 401, 'unauthenticated')
  })

  it('bearer refresh with {"refreshToken"} rotates; the old one after grace answers 401 and revokes the session', async () => {
    const t0 = await tokenFor(await srv.user())
    const r1 = await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: t0.body.refreshToken } })
    expect(r1.status, r1.text).toBe(200)
    expect(r1.setCookies).toEqual([])
    expect(r1.body.refreshToken).not.toBe(t0.body.refreshToken)
    expect(typeof r1.body.accessToken).toBe('string')
    expect(r1.body.expiresIn).toBe(300)
    const ok = await nativeRequest(srv, 'GET', '/api/me', { headers: { Authorization: `Bearer ${r1.body.accessToken}` } })
    expect(ok.status).toBe(200)
    srv.clock.advance(11)
    const replay = await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: t0.body.refreshToken } })
    expectError(replay, 401, 'unauthenticated')
    // The whole session is over: the successor and the current access token too.
    expectError(await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: r1.body.refreshToken } }), 401, 'unauthenticated')
    expectError(await nativeRequest(srv, 'GET', '/api/me', { headers: { Authorization: `Bearer ${r1.body.accessToken}` } }), 401, 'unauthenticated')
  })

  it('bearer refresh from a browser context, or with a junk token, is refused', async () => {
    const t0 = await tokenFor(await srv.user())
    const b = srv.browser()
    expectError(await b.post('/auth/refresh', { refreshToken: t0.body.refreshToken }), 403, 'forbidden_origin')
    expectError(await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: 'junk' } }), 401, 'unauthenticated')
    expectError(await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: 42 } }), 400, 'bad_request')
  })

  it('bearer password change keeps the calling session and ends the others', async () => {
    const name = await srv.user()
    const t0 = await tokenFor(name)
    const browser = srv.browser()
    await browser.signIn(name)
    const auth = { Authorization: `Bearer ${t0.body.accessToken}` }
    const res = await nativeRequest(srv, 'POST', '/auth/password', { headers: auth, body: { currentPassword: PASSWORD, newPassword: 'native-new-password' } })
    expect(res.status, res.text).toBe(204)
    expect(res.setCookies).toEqual([])
    expect((await nativeRequest(srv, 'GET', '/api/me', { headers: auth })).status).toBe(200)
    expectError(await browser.me(), 401, 'unauthenticated')
    const r = await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: t0.body.refreshToken } })
    expect(r.status).toBe(200)
  })

  it('bearer logout revokes that session; GET /auth/session works with a bearer token', async () => {
    const name = await srv.user()
    const t0 = await tokenFor(name)
    const auth = { Authorization: `Bearer ${t0.body.accessToken}` }
    const s = await nativeRequest(srv, 'GET', '/auth/session', { headers: auth })
    expect(s.status).toBe(200)
    expect(s.body.user.username).toBe(name)
    expect((await nativeRequest(srv, 'POST', '/auth/logout', { headers: auth })).status).toBe(204)
    const after = await nativeRequest(srv, 'GET', '/api/me', { headers: auth })
    expectError(after, 401, 'unauthenticated')
    expect(after.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
    expectError(await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: t0.body.refreshToken } }), 401, 'unauthenticated')
  })

  it("a browser session's refresh token cannot be used as a bearer refresh token", async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const refresh = b.cookie('__Secure-refresh')!
    const res = await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: refresh } })
    expectError(res, 401, 'unauthenticated')
    expect(res.text).not.toMatch(/accessToken/)
  })

  // Regression (found by this suite): the session-kind check ran after the rotation, so a refused
  // wrong-kind presentation still rotated the token and, after the grace, the real browser's next
  // refresh looked like a replay. A refusal must change nothing.
  it('a refused wrong-kind refresh does not burn the browser session (no state change on refusal)', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const refresh = b.cookie('__Secure-refresh')!
    expect((await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: refresh } })).status).toBe(401)
    srv.clock.advance(11)
    const res = await b.refresh()
    expect(res.status, res.text).toBe(200)
    expect((await b.me()).status).toBe(200)
  })
})

describe('password hashing under a flood', () => {
  it('logins beyond the hashing queue answer 503 unavailable with Retry-After at once (load shed, never a 500); the next one works', async () => {
    // Production cost (~45 ms a hash), so that six logins sent at once really overlap.
    const srv = await startServer({ argon2: { memoryCost: 19_456, timeCost: 2, parallelism: 1 }, passwordHashing: { concurrency: 1, queue: 1 } })
    try {
      const name = await srv.user()
      const browsers = await Promise.all(Array.from({ length: 6 }, async () => {
        const b = srv.browser()
        await b.csrf()
        return b
      }))
      const answers = await Promise.all(browsers.map((b) => b.login(name)))
      const statuses = answers.map((r) => r.status)
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1)
      const shed = answers.filter((r) => r.status === 503)
      expect(shed.length).toBeGreaterThan(0)
      for (const r of shed) {
        expectError(r, 503, 'unavailable')
        expect(r.headers.get('retry-after')).toBe('1')
      }
      expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([])
      expect((await browsers[0]!.login(name)).status).toBe(200)
    } finally {
      await srv.close()
    }
  })
})
