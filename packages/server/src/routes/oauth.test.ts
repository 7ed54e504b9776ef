/**
 * Provider sign-in over real HTTP against a real OpenID provider (oidc-provider
 * on loopback). Every attack ends with the browser signed out and nothing
 * created or linked.
 */
import { calculateJwkThumbprint } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceKey } from '../dpop/testing.ts'
import type { OAuthOptions } from '../oauth/flow.ts'
import { startOidcProvider, type TestOidcProvider } from '../testing/oidc-provider.ts'
import { Browser, PASSWORD, setCookieFor, startServer, toRes, uniqueName, type Res, type TestServer } from '../testing/harness.ts'

let op: TestOidcProvider
let server: TestServer
const logs: Array<Record<string, unknown>> = []

const providers = (issuer: string): OAuthOptions => ({
  providers: [
    { id: 'oidc', name: 'Test OP', issuer, clientId: 'bastion-test', clientSecret: 'bastion-test-secret-0123456789abcdef' },
    // A second provider on the same issuer and client: a flow started for one must not finish at the other (mix-up).
    { id: 'second', name: 'Second', issuer, clientId: 'bastion-test', clientSecret: 'bastion-test-secret-0123456789abcdef' },
  ],
})

beforeAll(async () => {
  op = await startOidcProvider({
    accounts: {
      'sub-ann': { email: 'ann@example.com', email_verified: true, name: 'Ann', preferred_username: 'ann' },
      'sub-unverified': { email: 'unv@example.com', email_verified: false, preferred_username: 'unverified' },
    },
  })
  server = await startServer({ oauth: providers(op.issuer), log: (e) => logs.push(e) })
  await op.register([`${server.url}/auth/oauth/oidc/callback`, `${server.url}/auth/oauth/second/callback`])
})
afterAll(async () => {
  await server?.close()
  await op?.close()
})

let subSeq = 0
/** A provider account of its own for each test, so tests do not see each other's users. */
function account(claims: Record<string, unknown> = {}): string {
  const sub = `sub-${process.pid}-${++subSeq}`
  op.accounts.set(sub, { email: `${sub}@example.com`, email_verified: true, preferred_username: sub, ...claims })
  return sub
}

/** POST /auth/oauth/:provider as the SPA does (pre-session first); answers the provider URL. */
async function begin(b: Browser, body: Record<string, unknown> = {}, provider = 'oidc'): Promise<{ res: Res; redirect: string }> {
  if (!b.cookie('__Host-csrf')) await b.csrf()
  const res = await b.post(`/auth/oauth/${provider}`, body)
  return { res, redirect: res.body?.redirect as string }
}

/** The browser follows the provider's redirect to our callback (a top-level GET), without following our 303. */
async function land(b: Browser, callback: URL | string): Promise<Res> {
  const url = new URL(callback, server.url)
  const headers: Record<string, string> = { 'User-Agent': b.userAgent, 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' }
  const cookie = b.cookieHeader(url.pathname)
  if (cookie) headers.Cookie = cookie
  const res = await toRes(await fetch(url, { headers, redirect: 'manual' }))
  b.absorb(res.setCookies)
  return res
}

const signedIn = async (b: Browser) => (await b.me()).status === 200

async function expectRefused(res: Res, code: string, b: Browser) {
  expect(res.status).toBe(303)
  expect(res.headers.get('location')).toBe(`/?auth_error=${code}`)
  expect(setCookieFor(res, '__Host-access')).toBeUndefined()
  expect(setCookieFor(res, '__Secure-refresh')).toBeUndefined()
  // The state cookie is spent either way.
  expect(setCookieFor(res, '__Host-oauth')).toMatch(/^__Host-oauth=; Max-Age=0/)
  expect(await signedIn(b)).toBe(false)
}

const noAccountFor = async (sub: string) => expect(await server.store.findIdentity('oidc', sub)).toBeNull()

describe('GET /auth/providers', () => {
  it('lists the configured providers by id and name, nothing else', async () => {
    const res = await server.browser().get('/auth/providers')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ providers: [{ id: 'oidc', name: 'Test OP' }, { id: 'second', name: 'Second' }] })
  })
})

describe('POST /auth/oauth/:provider', () => {
  it('answers the provider URL (PKCE S256, state, nonce) and sets the sealed __Host-oauth cookie', async () => {
    const b = server.browser()
    const { res, redirect } = await begin(b, { returnTo: '/account' })
    expect(res.status).toBe(200)
    const url = new URL(redirect)
    expect(url.origin).toBe(op.issuer)
    expect(url.searchParams.get('code_challenge_method')).toBe('S256')
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    expect(url.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{20,}$/)
    expect(url.searchParams.get('redirect_uri')).toBe(`${server.url}/auth/oauth/oidc/callback`)
    expect(url.searchParams.get('scope')).toBe('openid email profile')
    const cookie = setCookieFor(res, '__Host-oauth')!
    expect(cookie).toMatch(/; Max-Age=600; Path=\/; Secure; HttpOnly; SameSite=Lax$/)
    // Sealed: neither the verifier's challenge input nor the state is readable in it.
    expect(cookie).not.toContain(url.searchParams.get('state')!)
    expect(JSON.stringify(res.body)).not.toMatch(/__Host|verifier/i)
  })

  it('is CSRF-checked like login: no token, a forged one, or a cross-site Origin is refused, and no cookie is set', async () => {
    const b = server.browser()
    await b.csrf()
    const missing = await b.post('/auth/oauth/oidc', {}, { csrf: false })
    expect(missing.status).toBe(403)
    expect(missing.body.error.code).toBe('csrf_failed')
    const forged = await b.post('/auth/oauth/oidc', {}, { headers: { 'X-CSRF-Token': 'p.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } })
    expect(forged.status).toBe(403)
    const cross = await b.post('/auth/oauth/oidc', {}, { headers: { Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' } })
    expect(cross.status).toBe(403)
    expect(cross.body.error.code).toBe('forbidden_origin')
    for (const r of [missing, forged, cross]) expect(setCookieFor(r, '__Host-oauth')).toBeUndefined()
  })

  it('answers 404 for an unknown provider and 400 for a malformed body', async () => {
    const b = server.browser()
    await b.csrf()
    expect((await b.post('/auth/oauth/nope', {})).status).toBe(404)
    expect((await b.post('/auth/oauth/oidc', { link: 'yes' })).body.error.code).toBe('bad_request')
    expect((await b.post('/auth/oauth/oidc', { returnTo: 5 })).body.error.code).toBe('bad_request')
    expect((await b.post('/auth/oauth/oidc', '{"returnTo":')).status).toBe(400)
  })

  it('refuses {"link": true} without a live session (401), setting no cookie', async () => {
    const b = server.browser()
    const { res } = await begin(b, { link: true })
    expect(res.status).toBe(401)
    expect(setCookieFor(res, '__Host-oauth')).toBeUndefined()
  })
})

describe('GET /auth/oauth/:provider/callback: the happy path', () => {
  it('creates the user by provider + sub, starts a fresh session, sets the three cookies, lands on returnTo', async () => {
    const sub = account({ preferred_username: 'Happy.Path' })
    const b = server.browser()
    const { redirect } = await begin(b, { returnTo: '/account?tab=2' })
    const preSession = b.cookie('__Host-csrf')
    const res = await land(b, await op.login(redirect, sub))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/account?tab=2')
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(setCookieFor(res, '__Host-access')).toMatch(/HttpOnly; SameSite=Lax$/)
    expect(setCookieFor(res, '__Secure-refresh')).toMatch(/Path=\/auth; Secure; HttpOnly; SameSite=Strict$/)
    expect(setCookieFor(res, '__Host-csrf')).toBeDefined()
    expect(b.cookie('__Host-csrf')).not.toBe(preSession)
    expect(b.cookie('__Host-oauth')).toBeUndefined()
    // No token in the Location or the body.
    expect(res.headers.get('location')).not.toMatch(/code|token/)
    expect(res.text).toBe('')

    const me = await b.me()
    expect(me.status).toBe(200)
    expect(me.body.user.username).toBe('happy.path')
    const identity = await server.store.findIdentity('oidc', sub)
    expect(identity).toMatchObject({ userId: me.body.user.id, email: `${sub}@example.com`, emailVerified: true })
    const sessions = await b.get('/auth/sessions')
    expect(sessions.body.sessions).toEqual([expect.objectContaining({ method: 'oauth:oidc', kind: 'cookie', current: true })])

    // The same provider account again: the same user, a new session id.
    const again = server.browser()
    const second = await land(again, await op.login((await begin(again)).redirect, sub))
    expect(second.headers.get('location')).toBe('/')
    const me2 = await again.me()
    expect(me2.body.user.id).toBe(me.body.user.id)
    expect(me2.body.sessionId).not.toBe(me.body.sessionId)
  })

  it('five first sign-ins of one provider account at once: one user, five sessions of it', async () => {
    const sub = account()
    const browsers = Array.from({ length: 5 }, () => server.browser())
    const callbacks: URL[] = []
    for (const b of browsers) callbacks.push(await op.login((await begin(b)).redirect, sub))
    const landed = await Promise.all(browsers.map((b, i) => land(b, callbacks[i]!)))
    for (const res of landed) expect(res.headers.get('location')).toBe('/')
    const ids = new Set(await Promise.all(browsers.map(async (b) => (await b.me()).body.user.id as string)))
    expect(ids.size).toBe(1)
    expect((await server.store.findIdentity('oidc', sub))?.userId).toBe([...ids][0])
    expect(await server.store.listLiveSessions([...ids][0]!, server.clock.now())).toHaveLength(5)
  })

  it('a browser already signed in gets a new session id; the old session is revoked', async () => {
    const sub = account()
    const b = server.browser()
    await land(b, await op.login((await begin(b)).redirect, sub))
    const first = (await b.me()).body.sessionId
    const oldAccess = b.cookie('__Host-access')!
    await land(b, await op.login((await begin(b)).redirect, sub))
    const second = (await b.me()).body.sessionId
    expect(second).not.toBe(first)
    expect((await server.store.findSession(first))?.revokedReason).toBe('replaced_by_login')
    const stale = server.browser()
    stale.setCookie('__Host-access', oldAccess)
    expect((await stale.me()).status).toBe(401)
  })

  it('an account made by a provider has no password: password login fails, with the same answer as a wrong password', async () => {
    const sub = account({ preferred_username: uniqueName('nopw') })
    const b = server.browser()
    await land(b, await op.login((await begin(b)).redirect, sub))
    const { username } = (await b.me()).body.user
    for (const password of [PASSWORD, 'x'.repeat(12), ' ']) {
      const res = await server.browser().login(username, password)
      expect(res.status).toBe(401)
      expect(res.body.error.code).toBe('invalid_credentials')
    }
  })

  it('never merges into a password account with the same name or e-mail: a separate account', async () => {
    const name = uniqueName('merge')
    await server.user(name)
    const sub = account({ preferred_username: name, email: `${name}@example.com`, email_verified: true })
    const b = server.browser()
    await land(b, await op.login((await begin(b)).redirect, sub))
    const me = await b.me()
    expect(me.status).toBe(200)
    expect(me.body.user.username).not.toBe(name)
    expect(me.body.user.username.startsWith(`${name}-`)).toBe(true)
    const password = await server.bastion.findUser(name)
    expect(me.body.user.id).not.toBe(password!.id)
    expect(await server.store.listIdentities(password!.id)).toEqual([])
  })
})

describe('callback attacks: each leaves the browser signed out and nothing created', () => {
  it('a forged state', async () => {
    const sub = account()
    const b = server.browser()
    const cb = await op.login((await begin(b)).redirect, sub)
    cb.searchParams.set('state', 'forged-state-value-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')
    await expectRefused(await land(b, cb), 'oauth_state', b)
    await noAccountFor(sub)
  })

  it('no state cookie at all (a callback URL opened in a browser that never started a flow)', async () => {
    const sub = account()
    const attacker = server.browser()
    const cb = await op.login((await begin(attacker)).redirect, sub)
    const victim = server.browser()
    await victim.csrf()
    await expectRefused(await land(victim, cb), 'oauth_state', victim)
    await noAccountFor(sub)
  })

  it("a state from another browser: the attacker's callback URL and even its state cookie, in the victim's browser (login CSRF)", async () => {
    const sub = account()
    const attacker = server.browser()
    const cb = await op.login((await begin(attacker)).redirect, sub)
    const victim = server.browser()
    await begin(victim)
    // The victim's own flow cookie does not match the attacker's state...
    await expectRefused(await land(victim, cb), 'oauth_state', victim)
    // ...and the attacker's sealed cookie, planted, is bound to the attacker's pre-session, not the victim's.
    await begin(victim)
    victim.setCookie('__Host-oauth', attacker.cookie('__Host-oauth')!)
    await expectRefused(await land(victim, cb), 'oauth_state', victim)
    await noAccountFor(sub)
  })

  it('a replayed code: the provider refuses it the second time (oauth_exchange)', async () => {
    const sub = account()
    const victim = server.browser()
    await begin(victim)
    const stolen = { oauth: victim.cookie('__Host-oauth')!, csrf: victim.cookie('__Host-csrf')! }
    const cb = await op.login((await begin(victim)).redirect, sub)
    const stolen2 = { oauth: victim.cookie('__Host-oauth')!, csrf: victim.cookie('__Host-csrf')! }
    expect(stolen2.csrf).toBe(stolen.csrf)
    expect((await land(victim, cb)).headers.get('location')).toBe('/')
    const userId = (await server.store.findIdentity('oidc', sub))!.userId
    // An attacker holding everything the victim's browser held replays the same callback.
    const attacker = server.browser()
    attacker.setCookie('__Host-oauth', stolen2.oauth)
    attacker.setCookie('__Host-csrf', stolen2.csrf)
    await expectRefused(await land(attacker, cb), 'oauth_exchange', attacker)
    expect((await server.store.listIdentities(userId)).length).toBe(1)
  })

  it("a code with the wrong verifier: the attacker's code injected into the victim's flow (PKCE)", async () => {
    const attackerSub = account()
    const attacker = server.browser()
    const attackerCb = await op.login((await begin(attacker)).redirect, attackerSub)
    const victim = server.browser()
    const { redirect } = await begin(victim)
    const injected = new URL(attackerCb)
    injected.searchParams.set('state', new URL(redirect).searchParams.get('state')!)
    await expectRefused(await land(victim, injected), 'oauth_exchange', victim)
    await noAccountFor(attackerSub)
  })

  it('mix-up: a flow started for one provider is refused at the callback of another', async () => {
    const sub = account()
    const b = server.browser()
    const cb = await op.login((await begin(b)).redirect, sub)
    const other = new URL(cb)
    other.pathname = '/auth/oauth/second/callback'
    await expectRefused(await land(b, other), 'oauth_state', b)
    await noAccountFor(sub)
    expect(await server.store.findIdentity('second', sub)).toBeNull()
  })

  it('the `iss` of the authorization response must be the provider it was started for (RFC 9207)', async () => {
    const sub = account()
    const b = server.browser()
    const cb = await op.login((await begin(b)).redirect, sub)
    expect(cb.searchParams.get('iss')).toBe(op.issuer)
    cb.searchParams.set('iss', 'https://evil.example')
    const res = await land(b, cb)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/?auth_error=oauth_exchange')
    expect(await signedIn(b)).toBe(false)
    await noAccountFor(sub)
  })

  it('the user cancels at the provider: oauth_denied', async () => {
    const b = server.browser()
    const cb = await op.deny((await begin(b)).redirect)
    expect(cb.searchParams.get('error')).toBe('access_denied')
    await expectRefused(await land(b, cb), 'oauth_denied', b)
  })

  it('returnTo=https://evil.example (and //evil, /\\evil) lands on / instead', async () => {
    for (const returnTo of ['https://evil.example', '//evil.example', '/\\evil.example']) {
      const sub = account()
      const b = server.browser()
      const res = await land(b, await op.login((await begin(b, { returnTo })).redirect, sub))
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toBe('/')
    }
  })

  it('an expired flow (over 10 minutes) is refused', async () => {
    const sub = account()
    const b = server.browser()
    const cb = await op.login((await begin(b)).redirect, sub)
    server.clock.advance(601)
    try {
      await expectRefused(await land(b, cb), 'oauth_state', b)
    } finally {
      server.clock.advance(-601)
    }
    await noAccountFor(sub)
  })

  it('the provider down at the code exchange: oauth_unavailable, nothing half-created', async () => {
    const sub = account()
    const b = server.browser()
    const cb = await op.login((await begin(b)).redirect, sub)
    await op.stop()
    try {
      await expectRefused(await land(b, cb), 'oauth_unavailable', b)
    } finally {
      await op.resume()
    }
    await noAccountFor(sub)
    expect(logs.some((e) => e.event === 'oauth_failed' && e.code === 'oauth_unavailable')).toBe(true)
  })
})

describe('linking a provider to a signed-in account', () => {
  it('links when the user is signed in, asks, and the provider says the e-mail is verified', async () => {
    const name = await server.user(uniqueName('linker'))
    const b = server.browser()
    await b.signIn(name)
    const sub = account({ email_verified: true })
    const { res, redirect } = await begin(b, { link: true, returnTo: '/settings' })
    expect(res.status).toBe(200)
    const landed = await land(b, await op.login(redirect, sub))
    expect(landed.headers.get('location')).toBe('/settings')
    const me = await b.me()
    expect(me.body.user.username).toBe(name)
    expect((await server.store.findIdentity('oidc', sub))?.userId).toBe(me.body.user.id)
    // Next time the provider signs straight into that account.
    const other = server.browser()
    await land(other, await op.login((await begin(other)).redirect, sub))
    expect((await other.me()).body.user.username).toBe(name)
  })

  it('does not link an account whose e-mail the provider has not verified', async () => {
    const name = await server.user(uniqueName('linker'))
    const b = server.browser()
    await b.signIn(name)
    const sub = account({ email_verified: false })
    const landed = await land(b, await op.login((await begin(b, { link: true })).redirect, sub))
    expect(landed.headers.get('location')).toBe('/?auth_error=oauth_denied')
    await noAccountFor(sub)
    // Still signed in as before: a refused link does not end the session.
    expect((await b.me()).body.user.username).toBe(name)
  })

  it('a link started by one session cannot be finished in another browser', async () => {
    const name = await server.user(uniqueName('linker'))
    const b = server.browser()
    await b.signIn(name)
    const sub = account()
    const cb = await op.login((await begin(b, { link: true })).redirect, sub)
    const thief = server.browser()
    thief.setCookie('__Host-oauth', b.cookie('__Host-oauth')!)
    await thief.csrf()
    await expectRefused(await land(thief, cb), 'oauth_state', thief)
    await noAccountFor(sub)
  })
})

describe('device binding (DPoP) of a provider sign-in', () => {
  // The callback is a top-level navigation and carries no proof: the POST that starts the flow proves the key.
  it('a sign-in started with a proof binds the session to that key: a refresh by it passes, one without it is refused and revokes', async () => {
    const key = await deviceKey()
    const proof = (path: string) => key.proof({ htm: 'POST', htu: `${server.origin}${path}` }, { now: server.clock.t })
    const sub = account()
    const b = server.browser()
    await b.csrf()
    const started = await b.post('/auth/oauth/oidc', {}, { headers: { DPoP: await proof('/auth/oauth/oidc') } })
    expect(started.status, started.text).toBe(200)
    const landed = await land(b, await op.login(started.body.redirect as string, sub))
    expect(landed.status).toBe(303)
    expect(await signedIn(b)).toBe(true)
    const sessionId = (await b.get('/auth/session')).body.session.id as string
    expect((await server.store.findSession(sessionId))?.dpopJkt).toBe(await calculateJwkThumbprint(key.jwk))
    expect((await b.refresh({ headers: { DPoP: await proof('/auth/refresh') } })).status).toBe(200)
    // A copy of the cookies without the device key: refused, and the session is over for everyone.
    const thief = server.browser()
    for (const [k, c] of b.jar) thief.jar.set(k, { ...c })
    expect((await thief.refresh()).status).toBe(401)
    expect((await server.store.findSession(sessionId))?.revokedAt).not.toBeNull()
  })

  it('a sign-in started with a forged proof is refused before the provider is involved', async () => {
    const key = await deviceKey()
    const b = server.browser()
    await b.csrf()
    const wrongUrl = await key.proof({ htm: 'POST', htu: `${server.origin}/auth/login` }, { now: server.clock.t })
    const res = await b.post('/auth/oauth/oidc', {}, { headers: { DPoP: wrongUrl } })
    expect(res.status).toBe(400)
    expect(setCookieFor(res, '__Host-oauth')).toBeUndefined()
  })
})
