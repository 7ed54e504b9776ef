/**
 * The audit log: every security event of a full scripted flow is logged,
 * structured, and no secret (password, access or refresh token, CSRF token,
 * cookie value) appears anywhere in what was logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, nativeRequest, startServer, uniqueName, type Browser, type TestServer } from '../testing/harness.ts'
import { LogCollector } from './support.ts'

describe('audit log', () => {
  let srv: TestServer
  const logs = new LogCollector()
  /** Every secret the flow handled, to be looked for in the serialized log. */
  const secrets = new Set<string>()
  const NEW_PASSWORD = 'new-password-of-the-flow-7'

  const keep = (b: Browser) => {
    for (const c of b.jar.values()) if (c.value) secrets.add(c.value)
    for (const line of b.last?.setCookies ?? []) {
      const v = line.slice(line.indexOf('=') + 1).split(';')[0]
      if (v) secrets.add(v)
    }
    const masked = b.last?.body?.csrfToken
    if (typeof masked === 'string') secrets.add(masked)
  }

  beforeAll(async () => {
    srv = await startServer({
      log: logs.log,
      rateLimit: { loginPerAccount: { max: 3, windowSeconds: 900 }, registerPerAddress: { max: 2, windowSeconds: 3600 } },
    })
  })
  afterAll(async () => {
    await srv?.close()
  })

  it('a full scripted flow logs each security event, structured, with no token, cookie, password or CSRF value', async () => {
    const name = uniqueName('audit')
    secrets.add(PASSWORD)
    secrets.add(NEW_PASSWORD)
    const b = srv.browser()
    expect((await b.register(name)).status).toBe(201)
    keep(b)
    // A failed login with a wrong password, and one for an account that does not exist (a password typed as the name).
    expect((await b.login(name, 'wrong-password-123')).status).toBe(401)
    secrets.add('wrong-password-123')
    expect((await b.login('hunter2-typed-as-username', 'x'.repeat(12))).status).toBe(401)
    await b.signIn(name)
    keep(b)
    const first = srv.browser()
    await first.signIn(name)
    keep(first)
    const r = await b.refresh()
    expect(r.status).toBe(200)
    keep(b)
    // Reuse: an old refresh token replayed after the grace window.
    const stale = srv.browser()
    stale.setCookie('__Secure-refresh', first.cookie('__Secure-refresh')!, '/auth')
    stale.setCookie('__Host-csrf', first.cookie('__Host-csrf')!)
    expect((await first.refresh()).status).toBe(200)
    keep(first)
    srv.clock.advance(60)
    expect((await stale.refresh()).status).toBe(401)
    // A CSRF refusal and a cross-site refusal.
    expect((await b.echo({ x: 1 }, { headers: { 'X-CSRF-Token': 'forged' } })).status).toBe(403)
    expect((await b.echo({ x: 1 }, { headers: { 'Sec-Fetch-Site': 'cross-site' } })).status).toBe(403)
    // Revoke one session from another, change the password, log out everywhere, log out.
    const third = srv.browser()
    await third.signIn(name)
    keep(third)
    const list = await b.get('/auth/sessions')
    const victim = list.body.sessions.find((s: { current: boolean; userAgent: string }) => s.userAgent === third.userAgent)
    expect((await b.request('DELETE', `/auth/sessions/${victim.id}`)).status).toBe(204)
    expect((await b.post('/auth/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD })).status).toBe(204)
    keep(b)
    const fourth = srv.browser()
    await fourth.signIn(name, NEW_PASSWORD)
    keep(fourth)
    expect((await fourth.post('/auth/logout-all')).status).toBe(204)
    await b.signIn(name, NEW_PASSWORD)
    keep(b)
    expect((await b.logout()).status).toBe(204)
    // Native client: token, refresh, logout.
    const native = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: NEW_PASSWORD } })
    expect(native.status).toBe(200)
    secrets.add(native.body.accessToken)
    secrets.add(native.body.refreshToken)
    const nr = await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: native.body.refreshToken } })
    expect(nr.status).toBe(200)
    secrets.add(nr.body.accessToken)
    secrets.add(nr.body.refreshToken)
    expect((await nativeRequest(srv, 'POST', '/auth/logout', { headers: { Authorization: `Bearer ${nr.body.accessToken}` } })).status).toBe(204)
    // Rate limits: per account (3 failures allowed), then per-address registration (2 per hour).
    for (let i = 0; i < 4; i++) await b.login(name, `wrong-${i}-password`)
    expect((await b.login(name, 'wrong-9-password')).status).toBe(429)
    const reg = srv.browser()
    for (let i = 0; i < 3; i++) await reg.register(uniqueName('reg'))
    expect((await reg.register(uniqueName('reg'))).status).toBe(429)
    for (let i = 0; i < 10; i++) secrets.add(`wrong-${i}-password`)

    const byName = (n: string) => logs.named(n)
    const userId = (await srv.bastion.findUser(name))!.id
    expect(byName('user_registered').map((e) => e.user)).toContain(userId)
    expect(byName('login_failed')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'warn', reason: 'wrong_password', user: userId, ip: '127.0.0.1' }),
        expect.objectContaining({ level: 'warn', reason: 'unknown_user', ip: '127.0.0.1' }),
      ]),
    )
    expect(byName('login').filter((e) => e.user === userId && e.via === 'cookie').length).toBeGreaterThanOrEqual(4)
    expect(byName('login').some((e) => e.user === userId && e.via === 'bearer')).toBe(true)
    expect(byName('refresh').filter((e) => e.user === userId).map((e) => e.via)).toEqual(expect.arrayContaining(['cookie', 'bearer']))
    expect(byName('refresh_token_reuse')).toEqual([expect.objectContaining({ level: 'warn', user: userId })])
    expect(byName('request_refused').map((e) => e.code)).toEqual(expect.arrayContaining(['csrf_failed', 'forbidden_origin']))
    expect(byName('request_refused')[0]).toMatchObject({ method: 'POST', path: '/api/echo' })
    expect(byName('session_revoked')).toEqual([expect.objectContaining({ user: userId, session: victim.id })])
    expect(byName('password_changed')).toEqual([expect.objectContaining({ user: userId, via: 'cookie' })])
    expect(byName('logout_all')).toEqual([expect.objectContaining({ user: userId })])
    expect(byName('logout').map((e) => e.via)).toEqual(expect.arrayContaining(['cookie', 'bearer']))
    expect(byName('rate_limited').map((e) => e.scope)).toEqual(expect.arrayContaining(['login_account', 'register_address']))
    expect(byName('unexpected_error')).toEqual([])

    // Every event: a level, a name, and flat values only (strings, numbers, booleans, null).
    for (const e of logs.events) {
      expect(['info', 'warn', 'error']).toContain(e.level)
      expect(e.event).toMatch(/^[a-z_]+$/)
      for (const [k, v] of Object.entries(e)) expect(v === null || ['string', 'number', 'boolean'].includes(typeof v), `${e.event}.${k}`).toBe(true)
    }

    // No secret, nor a recognizable part of one, anywhere in the log.
    const serialized = JSON.stringify(logs.events)
    const fragments = new Set<string>()
    for (const s of secrets) {
      fragments.add(s)
      // The secret half of a refresh token, each part of a JWT or CSRF token (the session id alone is not a secret).
      for (const part of s.split('.')) if (part.length >= 20 && !/^[A-Za-z0-9_-]{24}$/.test(part)) fragments.add(part)
    }
    expect(secrets.size).toBeGreaterThan(20)
    for (const f of fragments) expect(serialized.includes(f), `secret fragment in the log: ${f.slice(0, 12)}…`).toBe(false)
    expect(serialized).not.toContain('hunter2-typed-as-username')
    expect(serialized).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/)
  })
})
