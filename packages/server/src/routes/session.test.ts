import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, cookieValue, expectError, nativeRequest, setCookieFor, startServer, uniqueName, type TestServer } from '../testing/harness.ts'

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
    expect(res.text).not.toContain(refresh.split('.').at(-1)!)
    expect(JSON.stringify(res.body)).not.toMatch(/accessToken|refreshToken/)
    res.headers.forEach((v, k) => {
      if (k === 'set-cookie') return
      expect(v).not.toContain(access)
      expect(v).not.toContain(refresh)
    })
    expect(res.headers.get('cache-control')).toBe('no-store')
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
