/**
 * ID-token attacks, through the whole server: a provider (a fake that can
 * misbehave) answers the code exchange with a forged or mismatched ID token.
 * Each is refused with oauth_id_token, the browser stays signed out, and no
 * account is created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeOidc, type FakeOidc, type IdTokenMode } from '../testing/fake-oidc.ts'
import { setCookieFor, startServer, toRes, type Browser, type TestServer } from '../testing/harness.ts'

let fake: FakeOidc
let server: TestServer

beforeAll(async () => {
  fake = await startFakeOidc()
  server = await startServer({
    oauth: { providers: [{ id: 'fake', name: 'Fake', issuer: fake.issuer, clientId: fake.clientId, clientSecret: fake.clientSecret, claims: { username: 'preferred_username' } }] },
  })
})
afterAll(async () => {
  await server?.close()
  await fake?.close()
})

let seq = 0
async function attempt(mode: IdTokenMode): Promise<{ b: Browser; location: string | null; sub: string; setCookies: string[] }> {
  fake.mode = mode
  const sub = `fake-${mode}-${++seq}`
  const b = server.browser()
  await b.csrf()
  const { body } = await b.post('/auth/oauth/fake', {})
  const cb = fake.authorize(body.redirect, sub, { email: `${sub}@example.com`, email_verified: true, preferred_username: sub })
  const headers: Record<string, string> = { Cookie: b.cookieHeader(cb.pathname), 'Sec-Fetch-Site': 'cross-site' }
  const res = await toRes(await fetch(cb, { headers, redirect: 'manual' }))
  b.absorb(res.setCookies)
  return { b, location: res.headers.get('location'), sub, setCookies: res.setCookies }
}

describe('ID token validation (pinned RS256, provider JWKS, iss, aud, nonce, exp)', () => {
  it('control: a well-formed ID token signs in (so the refusals below are the checks at work)', async () => {
    const { b, location, sub } = await attempt('good')
    expect(location).toBe('/')
    expect((await b.me()).status).toBe(200)
    expect(await server.store.findIdentity('fake', sub)).not.toBeNull()
  })

  it.each<IdTokenMode>(['wrong-nonce', 'wrong-aud', 'wrong-iss', 'expired', 'alg-none', 'hs256-public-key', 'foreign-key', 'no-id-token'])(
    'refuses an ID token: %s',
    async (mode) => {
      const before = fake.tokenRequests
      const { b, location, sub, setCookies } = await attempt(mode)
      expect(fake.tokenRequests).toBe(before + 1)
      expect(location).toBe('/?auth_error=oauth_id_token')
      expect(setCookies.find((c) => c.startsWith('__Host-access='))).toBeUndefined()
      expect((await b.me()).status).toBe(401)
      expect(await server.store.findIdentity('fake', sub)).toBeNull()
      expect(await server.bastion.findUser(sub)).toBeNull()
    },
  )
})

describe('a plain OAuth 2 provider (GitHub-style: no ID token, a userinfo mapping)', () => {
  it('signs in by the mapped id, takes the login as username, and never counts its e-mail as verified', async () => {
    const gh = await startServer({
      oauth: {
        providers: [
          {
            type: 'oauth2',
            id: 'hub',
            name: 'Hub',
            clientId: fake.clientId,
            clientSecret: fake.clientSecret,
            authorizationEndpoint: `${fake.issuer}/authorize`,
            tokenEndpoint: `${fake.issuer}/token`,
            userinfoEndpoint: `${fake.issuer}/user`,
            claims: { subject: 'id', username: 'login', emailVerified: '' },
          },
        ],
      },
    })
    try {
      fake.mode = 'no-id-token'
      const b = gh.browser()
      await b.csrf()
      const { body } = await b.post('/auth/oauth/hub', { returnTo: '/x' })
      const authorize = new URL(body.redirect)
      expect(authorize.searchParams.get('code_challenge_method')).toBe('S256')
      expect(authorize.searchParams.has('nonce')).toBe(false)
      const cb = fake.authorize(body.redirect, 'octocat', { email: 'octo@example.com' })
      const res = await toRes(await fetch(cb, { headers: { Cookie: b.cookieHeader(cb.pathname) }, redirect: 'manual' }))
      b.absorb(res.setCookies)
      expect(res.headers.get('location')).toBe('/x')
      const me = await b.me()
      expect(me.body.user.username).toBe('octocat')
      const [identity] = await gh.store.listIdentities(me.body.user.id)
      expect(identity).toMatchObject({ provider: 'hub', subject: expect.stringMatching(/^\d+$/), email: 'octo@example.com', emailVerified: false })
    } finally {
      await gh.close()
    }
  })
})

describe('the provider down', () => {
  it('before discovery: POST /auth/oauth/:provider answers 503 unavailable and sets no state cookie', async () => {
    const down = await startServer({
      oauth: { providers: [{ id: 'gone', issuer: 'http://127.0.0.1:9', clientId: 'c', clientSecret: 's', timeout: 2 }] },
    })
    try {
      const b = down.browser()
      await b.csrf()
      const res = await b.post('/auth/oauth/gone', {})
      expect(res.status).toBe(503)
      expect(res.body.error.code).toBe('unavailable')
      expect(setCookieFor(res, '__Host-oauth')).toBeUndefined()
    } finally {
      await down.close()
    }
  })
})
