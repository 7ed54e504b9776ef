import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser, PASSWORD, cookieValue, expectError, setCookieFor, startServer, type TestServer } from './testing/harness.ts'

let srv: TestServer
beforeAll(async () => {
  srv = await startServer()
})
afterAll(async () => {
  await srv?.close()
})

const signedIn = async (): Promise<Browser> => {
  const b = srv.browser()
  await b.signIn(await srv.user())
  return b
}

describe('Set-Cookie attributes', () => {
  it('the three cookies carry exactly the contract attributes', async () => {
    const b = srv.browser()
    const pre = await b.get('/auth/csrf')
    expect(setCookieFor(pre, '__Host-csrf')).toMatch(/^__Host-csrf=p\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Max-Age=\d+; Path=\/; Secure; SameSite=Lax$/)
    const res = await b.login(await srv.user())
    expect(res.status).toBe(200)
    expect(setCookieFor(res, '__Host-access')).toMatch(/^__Host-access=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Max-Age=300; Path=\/; Secure; HttpOnly; SameSite=Lax$/)
    expect(setCookieFor(res, '__Secure-refresh')).toMatch(/^__Secure-refresh=[A-Za-z0-9_.-]+; Max-Age=1209600; Path=\/auth; Secure; HttpOnly; SameSite=Strict$/)
    const csrf = setCookieFor(res, '__Host-csrf')!
    expect(csrf).toMatch(/^__Host-csrf=s\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Max-Age=\d+; Path=\/; Secure; SameSite=Lax$/)
    expect(csrf).not.toMatch(/HttpOnly/i)
    expect(res.setCookies.some((c) => /Domain=/i.test(c))).toBe(false)
  })

  it('the refresh cookie is only sent to /auth/* (Path scoping of the jar)', async () => {
    const b = await signedIn()
    expect(b.cookieHeader('/api/me')).not.toContain('__Secure-refresh')
    expect(b.cookieHeader('/authx')).not.toContain('__Secure-refresh')
    expect(b.cookieHeader('/auth/refresh')).toContain('__Secure-refresh')
  })

  it('custom names, header and lifetime come from the options', async () => {
    const custom = await startServer({
      accessTtl: 60,
      csrfHeader: 'X-CSRFToken',
      cookies: { csrf: { name: 'csrftoken' }, access: { name: '__Host-at' }, refresh: { name: '__Secure-rt' } },
    })
    try {
      const b = custom.browser()
      b.csrfCookieName = 'csrftoken'
      b.csrfHeaderName = 'X-CSRFToken'
      const res = await b.login(await custom.user())
      expect(res.status, res.text).toBe(200)
      expect(setCookieFor(res, '__Host-at')).toMatch(/; Max-Age=60; Path=\/; Secure; HttpOnly; SameSite=Lax$/)
      expect(setCookieFor(res, '__Secure-rt')).toMatch(/; Path=\/auth; Secure; HttpOnly; SameSite=Strict$/)
      expect(setCookieFor(res, 'csrftoken')).toMatch(/; Path=\/; Secure; SameSite=Lax$/)
      expect(res.setCookies.some((c) => c.startsWith('__Host-access') || c.startsWith('__Host-csrf'))).toBe(false)
      expect((await b.echo()).status).toBe(200)
      // The default header name is no longer accepted in its place.
      const token = b.cookie('csrftoken')!
      expectError(await b.echo({}, { csrf: false, headers: { 'X-CSRF-Token': token } }), 403, 'csrf_failed')
      expect((await b.refresh()).status).toBe(200)
    } finally {
      await custom.close()
    }
  })
})

describe('CSRF rule on an authenticated POST', () => {
  it('accepts the header equal to the cookie', async () => {
    const b = await signedIn()
    expect((await b.echo()).status).toBe(200)
  })

  it('refuses a missing header', async () => {
    const b = await signedIn()
    expectError(await b.echo({}, { csrf: false }), 403, 'csrf_failed')
  })

  it('refuses a wrong token, a forged token with a well-formed shape, and a huge header', async () => {
    const b = await signedIn()
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': 'wrong' } }), 403, 'csrf_failed')
    const real = b.cookie('__Host-csrf')!
    const [kind, nonce] = real.split('.')
    const forged = `${kind}.${nonce}.${'A'.repeat(43)}`
    b.setCookie('__Host-csrf', forged)
    expectError(await b.echo(), 403, 'csrf_failed')
    b.setCookie('__Host-csrf', real)
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': `m.${'A'.repeat(4000)}` } }), 403, 'csrf_failed')
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': 'm.%%%' } }), 403, 'csrf_failed')
    expect((await b.echo()).status).toBe(200)
  })

  it("refuses another session's token (its header and cookie swapped in)", async () => {
    const victim = await signedIn()
    const attacker = await signedIn()
    victim.setCookie('__Host-csrf', attacker.cookie('__Host-csrf')!)
    expectError(await victim.echo(), 403, 'csrf_failed')
  })

  it("refuses another session of the same user's token", async () => {
    const name = await srv.user()
    const one = srv.browser()
    const two = srv.browser()
    await one.signIn(name)
    await two.signIn(name)
    one.setCookie('__Host-csrf', two.cookie('__Host-csrf')!)
    expectError(await one.echo(), 403, 'csrf_failed')
  })

  it('refuses a pre-login token after login', async () => {
    const b = srv.browser()
    await b.csrf()
    const pre = b.cookie('__Host-csrf')!
    await b.signIn(await srv.user())
    expect(b.cookie('__Host-csrf')).not.toBe(pre)
    b.setCookie('__Host-csrf', pre)
    expectError(await b.echo(), 403, 'csrf_failed')
  })

  it("refuses a tossed cookie: the attacker's own valid CSRF cookie and header in the victim's jar", async () => {
    const attacker = srv.browser()
    await attacker.csrf()
    const attackerPre = attacker.cookie('__Host-csrf')!
    const attackerSession = await signedIn()
    const victim = await signedIn()
    victim.setCookie('__Host-csrf', attackerPre)
    expectError(await victim.echo(), 403, 'csrf_failed')
    victim.setCookie('__Host-csrf', attackerSession.cookie('__Host-csrf')!)
    expectError(await victim.echo(), 403, 'csrf_failed')
  })

  it('refuses two __Host-csrf cookies, and two __Host-access cookies, in one Cookie header', async () => {
    const b = await signedIn()
    const token = b.cookie('__Host-csrf')!
    const cookie = b.cookieHeader('/api/echo')
    expectError(await b.echo({}, { headers: { Cookie: `${cookie}; __Host-csrf=${token}` } }), 403, 'csrf_failed')
    const other = await signedIn()
    expectError(await b.echo({}, { headers: { Cookie: `__Host-csrf=${other.cookie('__Host-csrf')}; ${cookie}` } }), 403, 'csrf_failed')
    expectError(await b.echo({}, { headers: { Cookie: `__Host-access=${other.cookie('__Host-access')}; ${cookie}` } }), 403, 'csrf_failed')
    expectError(await b.echo({}, { headers: { Cookie: `${cookie}; __Host-access=${b.cookie('__Host-access')}` } }), 403, 'csrf_failed')
    // A GET with a duplicated access cookie is refused too (not guessed at).
    const get = await b.me({ headers: { Cookie: `__Host-access=${other.cookie('__Host-access')}; ${b.cookieHeader('/api/me')}` } })
    expect([401, 403]).toContain(get.status)
    expect(get.body.user).toBeUndefined()
    expect((await b.echo()).status).toBe(200)
  })

  it('refuses Sec-Fetch-Site cross-site and same-site, a foreign Origin and Origin: null, even with a valid token', async () => {
    const b = await signedIn()
    expectError(await b.echo({}, { headers: { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' } }), 403, 'forbidden_origin')
    expectError(await b.echo({}, { headers: { 'Sec-Fetch-Site': 'cross-site', Origin: null } }), 403, 'forbidden_origin')
    expectError(await b.echo({}, { headers: { 'Sec-Fetch-Site': 'same-site', Origin: 'http://sub.127.0.0.1.nip.io' } }), 403, 'forbidden_origin')
    expectError(await b.echo({}, { headers: { 'Sec-Fetch-Site': 'same-site' } }), 403, 'forbidden_origin')
    expectError(await b.echo({}, { headers: { Origin: 'https://evil.example' } }), 403, 'forbidden_origin')
    expectError(await b.echo({}, { headers: { Origin: `${srv.origin}.evil.example` } }), 403, 'forbidden_origin')
    expectError(await b.echo({}, { headers: { Origin: 'null' } }), 403, 'forbidden_origin')
    expectError(await b.echo({}, { headers: { Origin: 'null', 'Sec-Fetch-Site': null } }), 403, 'forbidden_origin')
    // Without Fetch Metadata or Origin (an old browser, curl) the CSRF token alone decides.
    expect((await b.echo({}, { headers: { Origin: null, 'Sec-Fetch-Site': null } })).status).toBe(200)
    expectError(await b.echo({}, { csrf: false, headers: { Origin: null, 'Sec-Fetch-Site': null } }), 403, 'csrf_failed')
  })

  it('a cross-site GET (top-level navigation) is let through: it changes nothing', async () => {
    const b = await signedIn()
    expect((await b.me({ headers: { 'Sec-Fetch-Site': 'cross-site' } })).status).toBe(200)
  })

  it('applies the same rules to DELETE, logout-all and password', async () => {
    const b = await signedIn()
    const sid = (await b.get('/auth/session')).body.session.id
    expectError(await b.request('DELETE', `/auth/sessions/${sid}`, { headers: { 'Sec-Fetch-Site': 'cross-site' } }), 403, 'forbidden_origin')
    expectError(await b.post('/auth/logout-all', undefined, { csrf: false }), 403, 'csrf_failed')
    expectError(await b.post('/auth/logout-all', undefined, { headers: { Origin: 'null' } }), 403, 'forbidden_origin')
    expectError(await b.post('/auth/password', { currentPassword: PASSWORD, newPassword: 'whatever-new-pass' }, { csrf: false }), 403, 'csrf_failed')
    expectError(await b.logout({ csrf: false }), 403, 'csrf_failed')
    expectError(await b.logout({ headers: { 'Sec-Fetch-Site': 'cross-site' } }), 403, 'forbidden_origin')
    expect((await b.me()).status).toBe(200)
  })
})

describe('CSRF rule on login, register, refresh', () => {
  it('login without a header, with a wrong token, cross-site or from a foreign origin is refused', async () => {
    const name = await srv.user()
    const b = srv.browser()
    await b.csrf()
    expectError(await b.post('/auth/login', { username: name, password: PASSWORD }, { csrf: false }), 403, 'csrf_failed')
    expectError(await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { 'X-CSRF-Token': 'p.x.y' } }), 403, 'csrf_failed')
    expectError(await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { 'Sec-Fetch-Site': 'cross-site' } }), 403, 'forbidden_origin')
    expectError(await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { Origin: 'https://evil.example' } }), 403, 'forbidden_origin')
    expectError(await b.post('/auth/login', { username: name, password: PASSWORD }, { headers: { Origin: 'null' } }), 403, 'forbidden_origin')
    // Without the CSRF cookie at all.
    const fresh = srv.browser()
    expectError(await fresh.post('/auth/login', { username: name, password: PASSWORD }, { headers: { 'X-CSRF-Token': 'anything' } }), 403, 'csrf_failed')
    expect(b.cookie('__Host-access')).toBeUndefined()
    expect((await b.login(name)).status).toBe(200)
  })

  it('login with a forged pre-session token (right shape, wrong MAC) is refused', async () => {
    const b = srv.browser()
    await b.csrf()
    const [, nonce] = b.cookie('__Host-csrf')!.split('.')
    b.setCookie('__Host-csrf', `p.${nonce}.${'B'.repeat(43)}`)
    expectError(await b.login(await srv.user()), 403, 'csrf_failed')
  })

  it('register needs the CSRF token too', async () => {
    const b = srv.browser()
    await b.csrf()
    expectError(await b.post('/auth/register', { username: 'csrf-less-user', password: PASSWORD }, { csrf: false }), 403, 'csrf_failed')
    expectError(await b.post('/auth/register', { username: 'csrf-less-user', password: PASSWORD }, { headers: { 'Sec-Fetch-Site': 'same-site' } }), 403, 'forbidden_origin')
    expect(await srv.bastion.findUser('csrf-less-user')).toBeNull()
  })

  it('refresh without the CSRF header answers 403 and does not rotate', async () => {
    const b = await signedIn()
    const before = b.cookie('__Secure-refresh')
    expectError(await b.refresh({ csrf: false }), 403, 'csrf_failed')
    expectError(await b.refresh({ headers: { 'Sec-Fetch-Site': 'cross-site' } }), 403, 'forbidden_origin')
    expect(b.cookie('__Secure-refresh')).toBe(before)
    expect((await b.refresh()).status).toBe(200)
  })
})

describe('allowed SPA origins (CORS with credentials)', () => {
  const SPA = 'http://localhost:5173'
  let cors: TestServer
  beforeAll(async () => {
    cors = await startServer({ allowedOrigins: [SPA] })
  })
  afterAll(async () => {
    await cors?.close()
  })

  it('answers the preflight 204 with exactly that origin and credentials true', async () => {
    const res = await fetch(`${cors.url}/api/echo`, {
      method: 'OPTIONS',
      headers: { Origin: SPA, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, x-csrf-token' },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(SPA)
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-csrf-token')
    const auth = await fetch(`${cors.url}/auth/login`, { method: 'OPTIONS', headers: { Origin: SPA, 'Access-Control-Request-Method': 'POST' } })
    expect(auth.status).toBe(204)
    expect(auth.headers.get('access-control-allow-origin')).toBe(SPA)
    expect(auth.headers.get('cache-control')).toBe('no-store')
  })

  it('accepts a credentialed POST from the allowed origin and labels the answer for it', async () => {
    const b = cors.browser()
    const spa = { Origin: SPA, 'Sec-Fetch-Site': 'same-site' }
    await b.get('/auth/csrf', { headers: spa })
    const login = await b.post('/auth/login', { username: await cors.user(), password: PASSWORD }, { headers: spa })
    expect(login.status, login.text).toBe(200)
    expect(login.headers.get('access-control-allow-origin')).toBe(SPA)
    const res = await b.echo({ x: 1 }, { headers: spa })
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('access-control-allow-origin')).toBe(SPA)
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    expect(res.headers.get('vary')).toMatch(/Origin/i)
    // Still needs the token.
    expectError(await b.echo({}, { csrf: false, headers: spa }), 403, 'csrf_failed')
  })

  it('never reflects a non-listed origin', async () => {
    const b = cors.browser()
    await b.signIn(await cors.user())
    for (const origin of ['https://evil.example', 'http://localhost:5174', 'http://localhost:5173.evil.example', 'null']) {
      const pre = await fetch(`${cors.url}/api/echo`, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' } })
      expect(pre.status).not.toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBeNull()
      expect(pre.headers.get('access-control-allow-credentials')).toBeNull()
      const res = await b.echo({}, { headers: { Origin: origin, 'Sec-Fetch-Site': 'cross-site' } })
      expectError(res, 403, 'forbidden_origin')
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      const get = await b.me({ headers: { Origin: origin, 'Sec-Fetch-Site': 'cross-site' } })
      expect(get.headers.get('access-control-allow-origin')).toBeNull()
    }
  })

  it('the server without an allow-list refuses every preflight', async () => {
    const res = await fetch(`${srv.url}/api/echo`, { method: 'OPTIONS', headers: { Origin: SPA, 'Access-Control-Request-Method': 'POST' } })
    expect(res.status).toBe(403)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('masked tokens (BREACH)', () => {
  it('a masked token from a body is accepted in the header', async () => {
    const b = srv.browser()
    const pre = await b.csrf()
    expect(pre.startsWith('m.')).toBe(true)
    const login = await b.post('/auth/login', { username: await srv.user(), password: PASSWORD }, { csrf: false, headers: { 'X-CSRF-Token': pre } })
    expect(login.status, login.text).toBe(200)
    const masked = login.body.csrfToken as string
    expect(masked.startsWith('m.')).toBe(true)
    expect(masked).not.toContain(b.cookie('__Host-csrf')!)
    expect((await b.echo({}, { csrf: false, headers: { 'X-CSRF-Token': masked } })).status).toBe(200)
    const fromCsrf = await b.csrf()
    expect((await b.echo({}, { csrf: false, headers: { 'X-CSRF-Token': fromCsrf } })).status).toBe(200)
  })

  it('two responses never carry the same masked string', async () => {
    const b = await signedIn()
    const seen = new Set<string>()
    for (let i = 0; i < 10; i++) seen.add(await b.csrf())
    expect(seen.size).toBe(10)
    const anon = srv.browser()
    const anonSeen = new Set<string>()
    for (let i = 0; i < 5; i++) anonSeen.add(await anon.csrf())
    expect(anonSeen.size).toBe(5)
    // ...yet they are all the same underlying token: the cookie did not change.
    expect(anon.last!.setCookies).toEqual([])
  })

  it('a masked token of another session is refused', async () => {
    const victim = await signedIn()
    const attacker = await signedIn()
    const masked = await attacker.csrf()
    expectError(await victim.echo({}, { csrf: false, headers: { 'X-CSRF-Token': masked } }), 403, 'csrf_failed')
  })
})

describe('session fixation', () => {
  it('login issues a new session id and a session-bound CSRF cookie, never the pre-session one', async () => {
    const b = srv.browser()
    await b.csrf()
    const pre = b.cookie('__Host-csrf')!
    const res = await b.signIn(await srv.user())
    const csrf = cookieValue(setCookieFor(res, '__Host-csrf'))!
    expect(csrf).not.toBe(pre)
    expect(csrf.startsWith('s.')).toBe(true)
    expect(res.body.session.id).not.toBe(pre.split('.')[1])
    expect(res.text).not.toContain(pre)
  })

  it('an attacker-planted pre-session cookie does not become (or name) the victim session', async () => {
    const attacker = srv.browser()
    await attacker.csrf()
    const planted = attacker.cookie('__Host-csrf')!
    const victim = srv.browser()
    victim.setCookie('__Host-csrf', planted)
    const res = await victim.signIn(await srv.user())
    expect(victim.cookie('__Host-csrf')).not.toBe(planted)
    // The attacker's copy is useless against the victim's session.
    const attackerWithVictimAccess = srv.browser()
    attackerWithVictimAccess.setCookie('__Host-access', victim.cookie('__Host-access')!)
    attackerWithVictimAccess.setCookie('__Host-csrf', planted)
    expectError(await attackerWithVictimAccess.echo(), 403, 'csrf_failed')
    expect(res.status).toBe(200)
  })

  it('a second login from the same browser revokes the previous session and issues a new id', async () => {
    const b = srv.browser()
    const name = await srv.user()
    const first = await b.signIn(name)
    const oldAccess = b.cookie('__Host-access')!
    const oldRefresh = b.cookie('__Secure-refresh')!
    const oldCsrf = b.cookie('__Host-csrf')!
    const second = await b.signIn(name)
    expect(second.body.session.id).not.toBe(first.body.session.id)
    const sessions = (await b.get('/auth/sessions')).body.sessions as any[]
    expect(sessions.map((s) => s.id)).toEqual([second.body.session.id])
    const thief = srv.browser()
    thief.setCookie('__Host-access', oldAccess)
    expectError(await thief.me(), 401, 'unauthenticated')
    thief.setCookie('__Secure-refresh', oldRefresh, '/auth')
    thief.setCookie('__Host-csrf', oldCsrf)
    expect((await thief.refresh()).status).toBe(401)
  })

  // Regression (found by this suite): the session to end was found only through a valid access
  // cookie, so once it had expired the old session stayed alive beside the new one. The CSRF token's
  // MAC now proves which session the browser holds, whatever cookie names it.
  it('a second login after the access cookie expired still revokes the previous session', async () => {
    const own = await startServer()
    try {
      const b = own.browser({ now: own.clock.now })
      const name = await own.user()
      const first = await b.signIn(name)
      const oldRefresh = b.cookie('__Secure-refresh')!
      own.clock.advance(301)
      expect(b.cookie('__Host-access')).toBeUndefined()
      await b.csrf()
      const second = await b.signIn(name)
      expect(second.body.session.id).not.toBe(first.body.session.id)
      const sessions = (await b.get('/auth/sessions')).body.sessions as any[]
      expect(sessions.map((s) => s.id)).toEqual([second.body.session.id])
      expect(oldRefresh).not.toBe(b.cookie('__Secure-refresh'))
    } finally {
      await own.close()
    }
  })
})
