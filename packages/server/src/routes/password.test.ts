import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, expectError, nativeRequest, setCookieFor, startServer, type TestServer } from '../testing/harness.ts'

let srv: TestServer
beforeAll(async () => {
  srv = await startServer()
})
afterAll(async () => {
  await srv?.close()
})

describe('contract endpoints (browser)', () => {
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
})

describe('bearer (native clients)', () => {
  const tokenFor = async (name: string) => {
    const res = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD } })
    expect(res.status, res.text).toBe(200)
    return res
  }

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
})
