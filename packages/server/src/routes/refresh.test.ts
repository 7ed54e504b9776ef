import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, expectError, nativeRequest, startServer, type TestServer, cookieValue, setCookieFor } from '../testing/harness.ts'

let srv: TestServer
beforeAll(async () => {
  srv = await startServer()
})
afterAll(async () => {
  await srv?.close()
})

describe('contract endpoints (browser)', () => {
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
})

describe('bearer (native clients)', () => {
  const tokenFor = async (name: string) => {
    const res = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    return res
  }

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

describe('refresh', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startServer()
  })
  afterAll(async () => {
    await srv?.close()
  })

  it('rotates; the old token within grace gets the SAME successor; after grace it revokes the whole session', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const r0 = b.cookie('__Secure-refresh')!
    const csrf = b.cookie('__Host-csrf')!
    const first = await b.refresh()
    expect(first.status).toBe(200)
    const r1 = b.cookie('__Secure-refresh')!
    expect(r1).not.toBe(r0)
    const currentAccess = b.cookie('__Host-access')!

    // A second tab still holding r0, within the grace window.
    const tab = srv.browser()
    tab.setCookie('__Secure-refresh', r0, '/auth')
    tab.setCookie('__Host-csrf', csrf)
    srv.clock.advance(5)
    const graced = await tab.refresh()
    expect(graced.status, graced.text).toBe(200)
    expect(cookieValue(setCookieFor(graced, '__Secure-refresh'))).toBe(r1)

    // The same r0 replayed after the grace window: theft assumed, the session ends.
    srv.clock.advance(6)
    tab.setCookie('__Secure-refresh', r0, '/auth')
    const replay = await tab.refresh()
    expectError(replay, 401, 'unauthenticated')
    expect(setCookieFor(replay, '__Secure-refresh')).toMatch(/Max-Age=0/)
    expectError(await b.me(), 401, 'unauthenticated')
    expect(b.cookie('__Host-access')).toBe(currentAccess)
    expectError(await b.refresh(), 401, 'unauthenticated')
  })

  it('20 concurrent refreshes with one token: all 200, exactly one distinct successor', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const headers = { Cookie: b.cookieHeader('/auth/refresh'), 'X-CSRF-Token': b.cookie('__Host-csrf')!, Origin: srv.origin, 'Sec-Fetch-Site': 'same-origin' }
    const results = await Promise.all(Array.from({ length: 20 }, () => fetch(`${srv.url}/auth/refresh`, { method: 'POST', headers })))
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))
    const successors = new Set(results.map((r) => cookieValue(r.headers.getSetCookie().find((c) => c.startsWith('__Secure-refresh=')))))
    expect(successors.size).toBe(1)
    expect([...successors][0]).not.toBe(b.cookie('__Secure-refresh'))
    b.absorb(results[0]!.headers.getSetCookie())
    srv.clock.advance(11)
    expect((await b.refresh()).status).toBe(200)
    expect((await b.me()).status).toBe(200)
  })

  it('expired access token: /api/me answers token_expired, refresh succeeds, then /api/me answers 200', async () => {
    const b = srv.browser({ now: srv.clock.now })
    await b.signIn(await srv.user())
    srv.clock.advance(301)
    expect(b.cookie('__Host-access')).toBeUndefined() // the jar dropped it (Max-Age=300)
    expectError(await b.me(), 401, 'token_expired')
    expectError(await b.get('/auth/session'), 401, 'token_expired')
    const res = await b.refresh()
    expect(res.status, res.text).toBe(200)
    expect((await b.me()).status).toBe(200)
    expect((await b.echo()).status).toBe(200)
  })

  it('expired access cookie still sent (clock skew): token_expired, then refresh works', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    srv.clock.advance(310)
    expectError(await b.me(), 401, 'token_expired')
    expect((await b.refresh()).status).toBe(200)
    expect((await b.me()).status).toBe(200)
  })

  it('refresh without any refresh cookie answers 401 and clears cookies; a junk one too', async () => {
    const b = srv.browser()
    await b.csrf()
    const res = await b.refresh()
    expectError(res, 401, 'unauthenticated')
    b.setCookie('__Secure-refresh', 'junk', '/auth')
    await b.csrf()
    expectError(await b.refresh(), 401, 'unauthenticated')
  })

  it('idle timeout (refreshTtl) ends the session', async () => {
    const own = await startServer({ accessTtl: 30, refreshTtl: 60, sessionMaxAge: 1000 })
    try {
      const b = own.browser()
      await b.signIn(await own.user())
      own.clock.advance(50)
      expect((await b.refresh()).status).toBe(200) // activity moves the idle deadline
      own.clock.advance(50)
      expect((await b.refresh()).status).toBe(200)
      own.clock.advance(61)
      expectError(await b.refresh(), 401, 'unauthenticated')
      own.clock.advance(-30)
      expectError(await b.refresh(), 401, 'unauthenticated')
    } finally {
      await own.close()
    }
  })

  it('absolute lifetime (sessionMaxAge) ends the session however active it is', async () => {
    const own = await startServer({ accessTtl: 30, refreshTtl: 60, sessionMaxAge: 100 })
    try {
      const b = own.browser()
      const login = await b.signIn(await own.user())
      expect(Date.parse(login.body.session.expiresAt)).toBe(own.clock.t + 60_000)
      own.clock.advance(50)
      expect((await b.refresh()).status).toBe(200)
      own.clock.advance(45)
      const last = await b.refresh()
      expect(last.status).toBe(200)
      expect(setCookieFor(last, '__Secure-refresh')).toMatch(/Max-Age=5;/)
      own.clock.advance(6)
      expectError(await b.refresh(), 401, 'unauthenticated')
      expect((await b.get('/auth/sessions')).status).toBe(401)
    } finally {
      await own.close()
    }
  })
})
