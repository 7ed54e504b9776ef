import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectError, setCookieFor, startServer, type TestServer } from '../testing/harness.ts'

let srv: TestServer
beforeAll(async () => {
  srv = await startServer()
})
afterAll(async () => {
  await srv?.close()
})

describe('contract endpoints (browser)', () => {
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
})
