// The resource service against a real Bastion over real HTTP: it trusts
// nothing but Bastion's JWKS, fetched through a proxy that counts the fetches
// (and can make the JWKS unreachable).
import { SignJWT, generateKeyPair, type JWK } from 'jose'
import { createHmac } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { decodeJwt, errorShapeProblems, nativeRequest, startServer, type Res, type TestServer } from '../../../packages/server/src/testing/harness.ts'
import type { RunningService } from './server.ts'
import { bearerToken, jwksProxy, orders, serviceFor, type JwksProxy } from './testing.ts'

const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** 401 with the contract's body and `WWW-Authenticate: Bearer error="invalid_token"`. */
function expectInvalid(res: Res, code: 'unauthenticated' | 'token_expired' = 'unauthenticated', label = ''): void {
  expect({ label, status: res.status, code: res.body?.error?.code }).toEqual({ label, status: 401, code })
  expect(errorShapeProblems(res), label).toEqual([])
  expect(res.headers.get('www-authenticate'), label).toMatch(/^Bearer error="invalid_token"/)
}

function expectUnavailable(res: Res): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: 503, code: 'unavailable' })
  expect(errorShapeProblems(res)).toEqual([])
}

/** A Bastion, a counting JWKS proxy in front of it, and the services a test starts (stopped after each test). */
function setup(options: Parameters<typeof startServer>[0] = {}) {
  const ctx = { srv: undefined as unknown as TestServer, proxy: undefined as unknown as JwksProxy, started: [] as RunningService[] }
  beforeAll(async () => {
    ctx.srv = await startServer(options)
    ctx.proxy = await jwksProxy(ctx.srv.url)
  })
  afterEach(async () => {
    await Promise.all(ctx.started.splice(0).map((s) => s.close()))
    if (ctx.proxy) ctx.proxy.mode = 'pass'
  })
  afterAll(async () => {
    await ctx.proxy?.close()
    await ctx.srv?.close()
  })
  return ctx
}

describe('a valid token', () => {
  const ctx = setup()

  it('a bearer token from POST /auth/token: 200 with the user it names', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const name = await srv.user()
    const token = await bearerToken(srv, name)
    const res = await orders(svc, token)
    expect(res.status, res.text).toBe(200)
    const user = await srv.bastion.findUser(name)
    expect(res.body.user).toEqual({ id: user!.id, username: name })
    expect(res.body.user.id).toBe(decodeJwt(token).payload.sub)
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it("a signed-in browser's __Host-access cookie on GET (same origin behind one proxy): 200", async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const b = srv.browser()
    const login = await b.signIn(await srv.user())
    const res = await orders(svc, undefined, { headers: { Cookie: b.cookieHeader('/orders') } })
    expect(res.status, res.text).toBe(200)
    expect(res.body.user.id).toBe(login.body.user.id)
  })

  it('state changes are not offered: POST /orders never answers 200, with a cookie or a bearer token', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const b = srv.browser()
    await b.signIn(await srv.user())
    const token = await bearerToken(srv)
    const attempts: Record<string, string>[] = [{ Cookie: b.cookieHeader('/orders') }, { Authorization: `Bearer ${token}` }]
    for (const headers of attempts) {
      const res = await orders(svc, undefined, { method: 'POST', headers })
      expect(res.status).toBe(404)
      expect(res.body.error.code).toBe('not_found')
    }
    // The same cookie on GET is accepted: reads only.
    expect((await orders(svc, undefined, { method: 'GET', headers: { Cookie: b.cookieHeader('/orders') } })).status).toBe(200)
  })

  it('an Authorization header wins over the cookie (cookies then ignored); two access cookies are refused, not guessed at', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const b = srv.browser()
    await b.signIn(await srv.user())
    const cookie = b.cookie('__Host-access')!
    expectInvalid(await orders(svc, 'not.a.token', { headers: { Cookie: `__Host-access=${cookie}` } }))
    const other = srv.browser()
    await other.signIn(await srv.user())
    const two = await orders(svc, undefined, { headers: { Cookie: `__Host-access=${cookie}; __Host-access=${other.cookie('__Host-access')}` } })
    expect(two.status).toBe(401)
    expect(two.body.error.code).toBe('unauthenticated')
  })
})

describe('refused tokens', () => {
  const ctx = setup()

  it('no token: 401 unauthenticated with WWW-Authenticate: Bearer (no error code, RFC 6750 §3.1)', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const res = await orders(svc)
    expect(res.status).toBe(401)
    expect(res.body.error.code).toBe('unauthenticated')
    expect(errorShapeProblems(res)).toEqual([])
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expectInvalid(await orders(svc, undefined, { headers: { Authorization: 'Basic YWxpY2U6cHc=' } }))
  })

  it('tampered signature or payload, wrong audience or issuer, alg none, HS256 keyed with the public key, a different key under the same kid, wrong or no typ, no exp: 401', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const real = await bearerToken(srv)
    const { header, payload } = decodeJwt(real)
    const [h, p, sig] = real.split('.') as [string, string, string]
    // Flip a character in the middle of the signature (the last one may carry only padding bits).
    const mid = Math.floor(sig.length / 2)
    const badSig = `${h}.${p}.${sig.slice(0, mid)}${sig[mid] === 'A' ? 'B' : 'A'}${sig.slice(mid + 1)}`
    const jwk = ((await (await fetch(`${srv.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] }).keys.find((k) => k.kid === header.kid)!
    const hsInput = `${enc({ ...header, alg: 'HS256' })}.${p}`
    const other = await generateKeyPair('EdDSA')
    const refused: Record<string, string> = {
      badSig,
      tamperedPayload: `${h}.${enc({ ...payload, sub: 'someone-else' })}.${sig}`,
      wrongAudience: await srv.signWithServerKey({ ...payload, aud: 'another-api' }),
      wrongIssuer: await srv.signWithServerKey({ ...payload, iss: 'https://evil.example' }),
      algNone: `${enc({ ...header, alg: 'none' })}.${p}.`,
      algNoneNoKid: `${enc({ alg: 'none', typ: 'at+jwt' })}.${p}.`,
      hs256PublicKey: `${hsInput}.${createHmac('sha256', Buffer.from(jwk.x!, 'base64url')).update(hsInput).digest('base64url')}`,
      sameKidOtherKey: await new SignJWT(payload).setProtectedHeader({ ...header }).sign(other.privateKey),
      wrongTyp: await srv.signWithServerKey(payload, { typ: 'JWT' }),
      noTyp: await srv.signWithServerKey(payload, { typ: undefined }),
      noExp: await srv.signWithServerKey({ ...payload, exp: undefined }),
      garbage: 'a.b.c',
      oversized: `${h}.${'A'.repeat(5000)}.${sig}`,
    }
    // Sanity: the harness's signer makes tokens the service accepts, so each refusal is about its one defect.
    expect((await orders(svc, await srv.signWithServerKey(payload))).status).toBe(200)
    for (const [label, token] of Object.entries(refused)) expectInvalid(await orders(svc, token), 'unauthenticated', label)
    expect((await orders(svc, real)).status).toBe(200)
    // All of that from one JWKS fetch.
    expect(proxy.hits).toBe(1)
  })

  it('an expired token: 401 token_expired; the tolerance on exp is a few seconds, not more', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const token = await bearerToken(srv)
    expect((await orders(svc, token)).status).toBe(200)
    const { payload } = decodeJwt(token)
    const t = Math.floor(srv.clock.t / 1000)
    const justExpired = await srv.signWithServerKey({ ...payload, jti: 'a', iat: t - 300, exp: t - 3 })
    const longExpired = await srv.signWithServerKey({ ...payload, jti: 'b', iat: t - 310, exp: t - 10 })
    expect((await orders(svc, justExpired)).status).toBe(200) // within the 5 s tolerance
    const res = await orders(svc, longExpired)
    expectInvalid(res, 'token_expired')
    expect(res.headers.get('www-authenticate')).toMatch(/error_description="The access token expired"/)
    // A real token once its 300 s are over (Bastion's clock, shared with the service).
    srv.clock.advance(306)
    expectInvalid(await orders(svc, token), 'token_expired')
  })
})

describe('key rotation', () => {
  const ctx = setup()

  it('after rotateKeys(): a new-key token verifies (unknown kid → one JWKS refetch), the old-key token still does', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started, { cooldownDuration: 0 })
    const oldToken = await bearerToken(srv)
    expect((await orders(svc, oldToken)).status).toBe(200)
    expect(proxy.hits).toBe(1)
    const newKid = await srv.bastion.rotateKeys()
    const newToken = await bearerToken(srv)
    expect(decodeJwt(newToken).header.kid).toBe(newKid)
    expect(decodeJwt(newToken).header.kid).not.toBe(decodeJwt(oldToken).header.kid)
    const res = await orders(svc, newToken)
    expect(res.status, res.text).toBe(200)
    expect(proxy.hits).toBe(2)
    expect((await orders(svc, oldToken)).status).toBe(200) // the retired key is still in the JWKS
    expect((await orders(svc, newToken)).status).toBe(200)
    expect(proxy.hits).toBe(2)
  })

  it('within the cooldown after a fetch, an unknown kid answers 503 with Retry-After (not 401: it may be a new key); after it, the refetch finds the key', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started, { cooldownDuration: 800 })
    const before = proxy.hits
    expect((await orders(svc, await bearerToken(srv))).status).toBe(200)
    expect(proxy.hits).toBe(before + 1)
    await srv.bastion.rotateKeys()
    const newToken = await bearerToken(srv)
    const cooling = await orders(svc, newToken)
    expectUnavailable(cooling)
    expect(Number(cooling.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(proxy.hits).toBe(before + 1) // cooldown: Bastion was not asked
    await sleep(900)
    expect((await orders(svc, newToken)).status).toBe(200)
    expect(proxy.hits).toBe(before + 2)
  })

  it('a kid that the freshly fetched JWKS does not have: 401', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const token = await bearerToken(srv)
    const { header, payload } = decodeJwt(token)
    const other = await generateKeyPair('EdDSA')
    const unknownKid = await new SignJWT(payload).setProtectedHeader({ ...header, kid: 'no-such-kid' }).sign(other.privateKey)
    // First request of this service: its fetch is fresh, and the kid is not in it.
    expectInvalid(await orders(svc, unknownKid))
  })
})

describe('the JWKS is cached', () => {
  const ctx = setup()

  it('many verifications of many tokens, in parallel: one fetch', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const tokens = await Promise.all(Array.from({ length: 5 }, () => bearerToken(srv)))
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => orders(svc, tokens[i % tokens.length])))
    expect(results.map((r) => r.status)).toEqual(Array(100).fill(200))
    // jose shares one in-flight fetch between the parallel first requests, then serves from its cache.
    expect(proxy.hits).toBe(1)
  })

  it('a flood of tokens with made-up kids does not turn into a flood of fetches (cooldown), and none gets through', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const before = proxy.hits
    const { header, payload } = decodeJwt(await bearerToken(srv))
    const other = await generateKeyPair('EdDSA')
    const forged = await Promise.all(
      Array.from({ length: 30 }, (_, i) => new SignJWT(payload).setProtectedHeader({ ...header, kid: `made-up-${i}` }).sign(other.privateKey)),
    )
    const statuses = []
    for (const t of forged) statuses.push((await orders(svc, t)).status)
    expect(statuses.every((s) => s === 401 || s === 503)).toBe(true)
    expect(proxy.hits - before).toBeLessThanOrEqual(2)
  })

  it('after cacheMaxAge the JWKS is fetched again', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started, { cacheMaxAge: 300 })
    const token = await bearerToken(srv)
    const before = proxy.hits
    expect((await orders(svc, token)).status).toBe(200)
    expect((await orders(svc, token)).status).toBe(200)
    expect(proxy.hits).toBe(before + 1)
    await sleep(350)
    expect((await orders(svc, token)).status).toBe(200)
    expect(proxy.hits).toBe(before + 2)
  })
})

describe('the JWKS unreachable', () => {
  const ctx = setup()

  it('nothing listening at the JWKS URL, so no key: 503 unavailable, never 200 or 500', async () => {
    const { srv, started } = ctx
    const closed = http.createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((r) => closed.close(() => r()))
    const svc = await serviceFor(srv, { jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json` } as JwksProxy, started)
    const token = await bearerToken(srv)
    expectUnavailable(await orders(svc, token))
    expectUnavailable(await orders(svc, token))
  })

  for (const mode of ['refuse', 'error', 'hang'] as const) {
    it(`JWKS ${mode === 'refuse' ? 'drops the connection' : mode === 'error' ? 'answers 500' : 'never answers'}: an unknown kid gets 503; a kid fetched before still verifies, even once the cache is stale`, async () => {
      const { srv, proxy, started } = ctx
      const svc = await serviceFor(srv, proxy, started, { cooldownDuration: 0, cacheMaxAge: 200, timeoutDuration: 300 })
      const oldToken = await bearerToken(srv)
      expect((await orders(svc, oldToken)).status).toBe(200)
      await srv.bastion.rotateKeys()
      const newToken = await bearerToken(srv)
      proxy.mode = mode
      expectUnavailable(await orders(svc, newToken))
      expect((await orders(svc, oldToken)).status).toBe(200) // still fresh in the cache
      await sleep(250)
      expect((await orders(svc, oldToken)).status).toBe(200) // stale; the refetch fails; the key fetched before verifies
      expectUnavailable(await orders(svc, newToken))
      // A forged token is still refused while the JWKS is down: the stale key is a key, not a pass.
      const { header, payload } = decodeJwt(oldToken)
      const other = await generateKeyPair('EdDSA')
      expectInvalid(await orders(svc, await new SignJWT(payload).setProtectedHeader(header).sign(other.privateKey)))
      proxy.mode = 'pass'
      expect((await orders(svc, newToken)).status).toBe(200)
    })
  }
})

describe('revocation (the documented limit)', () => {
  const ctx = setup()

  it("a revoked session's token keeps verifying here until it expires, while Bastion refuses it at once", async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const token = await bearerToken(srv)
    const bearer = { Authorization: `Bearer ${token}` }
    expect((await orders(svc, token)).status).toBe(200)
    expect((await nativeRequest(srv, 'POST', '/auth/logout', { headers: bearer })).status).toBe(204)

    // Bastion knows: its own guard and /auth/session refuse the token of the revoked session.
    expect((await nativeRequest(srv, 'GET', '/api/me', { headers: bearer })).status).toBe(401)
    expect((await nativeRequest(srv, 'GET', '/auth/session', { headers: bearer })).status).toBe(401)

    // This service sees only the JWKS, not the revocation list: the token still works (README, "Revocation").
    expect((await orders(svc, token)).status).toBe(200)
    srv.clock.advance(300)
    expect((await orders(svc, token)).status).toBe(200) // at exp, inside the 5 s tolerance
    srv.clock.advance(6)
    expectInvalid(await orders(svc, token), 'token_expired') // ... and no longer than its lifetime plus the tolerance
  })

  it('the same for a browser session ended with logout-all', async () => {
    const { srv, proxy, started } = ctx
    const svc = await serviceFor(srv, proxy, started)
    const b = srv.browser()
    await b.signIn(await srv.user())
    const cookie = `__Host-access=${b.cookie('__Host-access')}`
    expect((await orders(svc, undefined, { headers: { Cookie: cookie } })).status).toBe(200)
    expect((await b.post('/auth/logout-all')).status).toBe(204)
    const stale = srv.browser()
    stale.setCookie('__Host-access', cookie.split('=')[1]!)
    expect((await stale.me()).status).toBe(401)
    expect((await orders(svc, undefined, { headers: { Cookie: cookie } })).status).toBe(200)
  })

  it('a shorter access lifetime shortens that window: with accessTtl 30 the revoked token stops working here after 30 s (+ tolerance)', async () => {
    const own = await startServer({ accessTtl: 30 })
    const ownProxy = await jwksProxy(own.url)
    try {
      const svc = await serviceFor(own, ownProxy, ctx.started)
      const token = await bearerToken(own)
      expect((await nativeRequest(own, 'POST', '/auth/logout', { headers: { Authorization: `Bearer ${token}` } })).status).toBe(204)
      expect((await orders(svc, token)).status).toBe(200)
      own.clock.advance(36)
      expectInvalid(await orders(svc, token), 'token_expired')
    } finally {
      await ownProxy.close()
      await own.close()
    }
  })
})
