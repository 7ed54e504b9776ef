/**
 * Attacks on the access token, each sent as the `__Host-access` cookie AND as
 * an `Authorization: Bearer` header, each answered 401. Every group first
 * proves its positive control: the legitimate token (or a token signed by
 * the server's own key, for the forged-claims cases) is accepted, so a
 * refusal is about the one defect under test.
 */
import { createPublicKey, createHmac, generateKeyPairSync, sign as nodeSign } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeJwt, nativeRequest, startServer, type Res, type TestServer } from '../testing/harness.ts'
import { LogCollector, b64json, cookieFor, tokenOfCookie, expectContractAnswer, expectNoUnexpectedErrors, fuzzParams, signRaw } from './support.ts'

const enc = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url')

interface Target {
  srv: TestServer
  logs: LogCollector
  /** A live, legitimate access token and its decoded parts. */
  token: string
  header: Record<string, unknown>
  payload: Record<string, unknown>
  jwk: JWK
}

async function target(options: Parameters<typeof startServer>[0] = {}): Promise<Target> {
  const logs = new LogCollector()
  const srv = await startServer({ log: logs.log, ...options })
  const b = srv.browser()
  await b.signIn(await srv.user())
  const token = await tokenOfCookie(srv, b.cookie('__Host-access')!)
  const { header, payload } = decodeJwt(token)
  const jwks = (await b.get('/.well-known/jwks.json')).body as { keys: JWK[] }
  return { srv, logs, token, header, payload, jwk: jwks.keys.find((k) => k.kid === header.kid)! }
}

/** The token as the access cookie (a browser with nothing else), and as a bearer header. */
async function presentBoth(srv: TestServer, token: string): Promise<{ cookie: Res; bearer: Res; oversizeCookie: boolean }> {
  const b = srv.browser()
  const value = await cookieFor(srv, token)
  b.setCookie('__Host-access', value)
  const cookie = await b.me()
  const bearer = await nativeRequest(srv, 'GET', '/api/me', { headers: { Authorization: `Bearer ${token}` } })
  // A token near 4 KB sealed in a JWE outgrows what a browser keeps as a cookie: refused as too large (400) or not valid (401).
  return { cookie, bearer, oversizeCookie: value.length > 4096 }
}

async function expectAccepted(t: Target, token: string, label = 'positive control'): Promise<void> {
  const { cookie, bearer } = await presentBoth(t.srv, token)
  expect({ label, cookie: cookie.status, bearer: bearer.status }).toEqual({ label, cookie: 200, bearer: 200 })
}

/** 401 with a contract code on both channels; the bearer answer says `invalid_token`. */
async function expectRefused(t: Target, cases: Record<string, string>, code: 'unauthenticated' | 'token_expired' = 'unauthenticated'): Promise<void> {
  // Positive control first: the server serves the legitimate token on both channels right now.
  await expectAccepted(t, t.token, 'legitimate token before the attacks')
  for (const [label, token] of Object.entries(cases)) {
    const { cookie, bearer, oversizeCookie } = await presentBoth(t.srv, token)
    if (oversizeCookie) expect([400, 401], `${label}: ${cookie.text.slice(0, 120)}`).toContain(cookie.status)
    else expect({ label, cookie: cookie.status, cookieCode: cookie.body?.error?.code }).toEqual({ label, cookie: 401, cookieCode: code })
    expect({ label, bearer: bearer.status, bearerCode: bearer.body?.error?.code }).toEqual({ label, bearer: 401, bearerCode: code })
    expect(bearer.headers.get('www-authenticate'), label).toMatch(/^Bearer error="invalid_token"/)
  }
  // The server still serves the legitimate token afterwards.
  await expectAccepted(t, t.token, 'legitimate token after the attacks')
  expectNoUnexpectedErrors(t.logs)
}

describe('token attacks (EdDSA server)', () => {
  let t: Target
  beforeAll(async () => {
    t = await target()
  })
  afterAll(async () => {
    await t?.srv.close()
  })

  it('positive control: the legitimate token, and one the test signs with the server key, are accepted on both channels', async () => {
    await expectAccepted(t, t.token)
    await expectAccepted(t, await t.srv.signWithServerKey(t.payload))
    await expectAccepted(t, await signRaw(t.srv, JSON.stringify(t.header), JSON.stringify(t.payload)))
  })

  it('alg none in every spelling, with the signature kept, emptied or stripped', async () => {
    const [, p, sig] = t.token.split('.') as [string, string, string]
    const cases: Record<string, string> = {}
    for (const alg of ['none', 'None', 'NONE', 'nOnE', 'none ', ' none', 'none\u0000', '', null]) {
      const h = b64json({ ...t.header, alg })
      const hNoKid = b64json({ alg, typ: 'at+jwt' })
      cases[`${JSON.stringify(alg)} empty signature`] = `${h}.${p}.`
      cases[`${JSON.stringify(alg)} signature kept`] = `${h}.${p}.${sig}`
      cases[`${JSON.stringify(alg)} two segments`] = `${h}.${p}`
      cases[`${JSON.stringify(alg)} no kid`] = `${hNoKid}.${p}.`
    }
    const { alg: _alg, ...withoutAlg } = t.header
    cases['no alg at all'] = `${b64json(withoutAlg)}.${p}.${sig}`
    cases['legitimate token, signature stripped'] = `${t.token.split('.').slice(0, 2).join('.')}.`
    cases['legitimate token, two segments'] = t.token.split('.').slice(0, 2).join('.')
    await expectRefused(t, cases)
  })

  it('a signature from another key (same kid, same alg), and an ES256 key claiming the kid', async () => {
    const other = await generateKeyPair('EdDSA', { extractable: true })
    const ec = await generateKeyPair('ES256', { extractable: true })
    await expectRefused(t, {
      'foreign Ed25519 key': await new SignJWT(t.payload).setProtectedHeader(t.header as never).sign(other.privateKey),
      'foreign ES256 key, our kid': await new SignJWT(t.payload).setProtectedHeader({ ...t.header, alg: 'ES256' } as never).sign(ec.privateKey),
    })
  })

  it('key confusion: HS256/384/512 keyed with the public key in its usual serialisations', async () => {
    const pub = createPublicKey({ key: t.jwk as never, format: 'jwk' })
    const secrets: Record<string, Buffer | string> = {
      'JWK JSON': JSON.stringify(t.jwk),
      'JWK JSON pretty': JSON.stringify(t.jwk, null, 2),
      'JWKS document': JSON.stringify({ keys: [t.jwk] }),
      'raw x bytes': Buffer.from(t.jwk.x!, 'base64url'),
      'x as base64url text': t.jwk.x!,
      'SPKI PEM': pub.export({ type: 'spki', format: 'pem' }) as string,
      'SPKI PEM without newline': (pub.export({ type: 'spki', format: 'pem' }) as string).trim(),
      'SPKI DER': pub.export({ type: 'spki', format: 'der' }),
    }
    const p = t.token.split('.')[1]!
    const cases: Record<string, string> = {}
    for (const [label, secret] of Object.entries(secrets)) {
      for (const [alg, hash] of [['HS256', 'sha256'], ['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
        const input = `${b64json({ ...t.header, alg })}.${p}`
        cases[`${alg} / ${label}`] = `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
      }
    }
    await expectRefused(t, cases)
  })

  it('embedded jwk, and jku / x5u pointing at a server the test runs, which is never contacted', async () => {
    let contacted = 0
    const attacker = await generateKeyPair('EdDSA', { extractable: true })
    const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: 'attacker-key', alg: 'EdDSA', use: 'sig' }
    const evil = http.createServer((_req, res) => {
      contacted++
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify({ keys: [attackerJwk] }))
    })
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`
    try {
      // The test's own server answers (so "zero requests" below means the server under test never asked).
      expect((await fetch(`${evilUrl}/jwks.json`)).status).toBe(200)
      contacted = 0
      const sign = (header: Record<string, unknown>) => new SignJWT(t.payload).setProtectedHeader({ typ: 'at+jwt', alg: 'EdDSA', ...header } as never).sign(attacker.privateKey)
      const cases: Record<string, string> = {
        'embedded jwk': await sign({ jwk: attackerJwk }),
        'embedded jwk, our kid': await sign({ jwk: attackerJwk, kid: t.header.kid }),
        'jku, attacker kid': await sign({ jku: `${evilUrl}/jwks.json`, kid: 'attacker-key' }),
        'jku, our kid': await sign({ jku: `${evilUrl}/jwks.json`, kid: t.header.kid }),
        'x5u': await sign({ x5u: `${evilUrl}/cert.pem`, kid: 'attacker-key' }),
        'x5u, our kid': await sign({ x5u: `${evilUrl}/cert.pem`, kid: t.header.kid }),
        'x5c junk chain': await sign({ x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'], kid: t.header.kid }),
      }
      await expectRefused(t, cases)
      // Hardening found by this suite: even with the server's own signature, a header member the server never
      // issues (jku, x5u, jwk, x5c) makes the token invalid rather than ignored.
      await expectRefused(t, {
        'jku, signed by the server key': await signRaw(t.srv, JSON.stringify({ ...t.header, jku: `${evilUrl}/jwks.json` }), JSON.stringify(t.payload)),
        'x5u, signed by the server key': await signRaw(t.srv, JSON.stringify({ ...t.header, x5u: `${evilUrl}/c.pem` }), JSON.stringify(t.payload)),
        'jwk, signed by the server key': await signRaw(t.srv, JSON.stringify({ ...t.header, jwk: attackerJwk }), JSON.stringify(t.payload)),
      })
      expect(contacted, 'requests the server under test made to the jku/x5u host').toBe(0)
    } finally {
      evil.closeAllConnections()
      await new Promise<void>((resolve) => evil.close(() => resolve()))
    }
  })

  it('kid path traversal, injection-shaped, unknown, wrongly typed', async () => {
    const p = t.token.split('.')[1]!
    const sig = t.token.split('.')[2]!
    const kids: unknown[] = [
      '../../../../etc/passwd', '../keys/' + String(t.header.kid), '/dev/null', 'file:///etc/passwd', "' OR '1'='1", "x'; DROP TABLE keys; --",
      '{"$ne": null}', '${jndi:ldap://127.0.0.1/a}', '__proto__', 'constructor', '%00', 'a'.repeat(5000), '', 'unknown-kid',
      String(t.header.kid).toUpperCase(), `${String(t.header.kid)} `, 42, null, true, ['a'], { kid: t.header.kid },
    ]
    const cases: Record<string, string> = {}
    for (const kid of kids) cases[`kid ${JSON.stringify(kid).slice(0, 40)}`] = `${b64json({ ...t.header, kid })}.${p}.${sig}`
    await expectRefused(t, cases)
  })

  it('ECDSA r = s = 0 ("psychic signature"), in raw and DER form, against an EdDSA key', async () => {
    const p = t.token.split('.')[1]!
    const h = b64json({ ...t.header, alg: 'ES256' })
    await expectRefused(t, {
      'raw zeros': `${h}.${p}.${enc(Buffer.alloc(64))}`,
      'DER r=0 s=0': `${h}.${p}.${enc(Buffer.from('3006020100020100', 'hex'))}`,
      'EdDSA zeros': `${b64json(t.header)}.${p}.${enc(Buffer.alloc(64))}`,
    })
  })

  it('tampered claims keep the old signature and fail', async () => {
    const [h, , sig] = t.token.split('.') as [string, string, string]
    const cases: Record<string, string> = {}
    const changes: Record<string, Record<string, unknown>> = {
      sub: { sub: 'someone-else' },
      sid: { sid: 'A'.repeat(24) },
      exp: { exp: (t.payload.exp as number) + 86_400 },
      username: { preferred_username: 'alice' },
      client_id: { client_id: 'bastion-native' },
      'extra claim': { admin: true },
    }
    for (const [label, change] of Object.entries(changes)) cases[label] = `${h}.${b64json({ ...t.payload, ...change })}.${sig}`
    await expectRefused(t, cases)
  })

  it('expired, not yet valid, wrong issuer, wrong audience, missing claims (signed by the server key)', async () => {
    const now = Math.floor(t.srv.clock.t / 1000)
    const sign = (claims: Record<string, unknown>) => t.srv.signWithServerKey({ ...t.payload, ...claims })
    await expectAccepted(t, await sign({ jti: 'fresh-positive-control' }))
    await expectRefused(t, {
      'not yet valid (nbf in an hour)': await sign({ nbf: now + 3600 }),
      'wrong issuer': await sign({ iss: 'https://evil.example' }),
      'wrong audience': await sign({ aud: 'another-api' }),
      'audience list without ours': await sign({ aud: ['another-api', 'third-api'] }),
      'no exp': await sign({ exp: undefined }),
      'exp not a number': await sign({ exp: 'tomorrow' }),
      'no sub': await sign({ sub: undefined }),
      'sid a number': await sign({ sid: 12 }),
    })
    await expectRefused(t, { 'expired an hour ago': await sign({ iat: now - 7200, exp: now - 3600 }) }, 'token_expired')
  })

  it('a refresh token, a CSRF token, a JWKS key, or another token type presented as the access token', async () => {
    const b = t.srv.browser()
    await b.signIn(await t.srv.user())
    const native = await nativeRequest(t.srv, 'POST', '/auth/token', { body: { username: await t.srv.user(), password: 'correct-horse-battery' } })
    expect(native.status).toBe(200)
    await expectAccepted(t, native.body.accessToken, 'a native access token, as a control')
    await expectRefused(t, {
      'browser refresh token': b.cookie('__Secure-refresh')!,
      'native refresh token': native.body.refreshToken,
      'CSRF cookie (three dotted parts)': b.cookie('__Host-csrf')!,
      'JWKS x': t.jwk.x!,
      'typ JWT (an ID token shape)': await t.srv.signWithServerKey(t.payload, { typ: 'JWT' }),
      'typ dpop+jwt': await t.srv.signWithServerKey(t.payload, { typ: 'dpop+jwt' }),
      'typ refresh+jwt': await t.srv.signWithServerKey(t.payload, { typ: 'refresh+jwt' }),
      'no typ': await t.srv.signWithServerKey(t.payload, { typ: undefined }),
    })
  })

  it('crit and b64:false headers, duplicate JSON keys, non-canonical encodings — even under the server key', async () => {
    const H = JSON.stringify(t.header)
    const P = JSON.stringify(t.payload)
    const headerWith = (extra: string) => `${H.slice(0, -1)},${extra}}`
    const payloadWith = (extra: string) => `${P.slice(0, -1)},${extra}}`
    const [h, p, sig] = t.token.split('.') as [string, string, string]
    // Control: the raw signer makes accepted tokens, so each refusal below is about its one oddity.
    await expectAccepted(t, await signRaw(t.srv, H, P))
    await expectRefused(t, {
      'crit with an unknown extension': await signRaw(t.srv, headerWith('"crit":["exp2"],"exp2":1'), P),
      'crit empty': await signRaw(t.srv, headerWith('"crit":[]'), P),
      'b64 false, in crit': await signRaw(t.srv, headerWith('"b64":false,"crit":["b64"]'), P),
      'b64 false, not in crit': await signRaw(t.srv, headerWith('"b64":false'), P),
      'duplicate alg in header (EdDSA then none)': await signRaw(t.srv, headerWith('"alg":"none"'), P),
      'duplicate kid in header': await signRaw(t.srv, headerWith('"kid":"other"'), P),
      'duplicate sub in payload': await signRaw(t.srv, H, payloadWith('"sub":"someone-else"')),
      'duplicate sid in payload': await signRaw(t.srv, H, payloadWith(`"sid":"${'B'.repeat(24)}"`)),
      'duplicate exp in payload': await signRaw(t.srv, H, payloadWith(`"exp":${(t.payload.exp as number) + 86_400}`)),
      'whitespace in the payload JSON': await signRaw(t.srv, H, P.replace(':', ' : ')),
      'payload not an object': await signRaw(t.srv, H, '[]'),
      'header not an object': await signRaw(t.srv, '"EdDSA"', P),
      'base64 padding on the signature': `${h}.${p}.${sig}==`,
      'standard base64 alphabet': `${h}.${p}.${Buffer.from(sig, 'base64url').toString('base64')}`,
      'non-canonical last character of the signature': `${h}.${p}.${sig.slice(0, -1)}${String.fromCharCode(sig.charCodeAt(sig.length - 1) ^ 1)}`,
      'four segments': `${t.token}.${sig}`,
      'five segments (a JWE shape)': `${h}.${p}.${sig}.${sig}.${sig}`,
    })
  })

  it('a token in the URL (access_token, token, jwt query parameters) authenticates nothing', async () => {
    await expectAccepted(t, t.token)
    for (const q of ['access_token', 'token', 'jwt', 'authorization']) {
      const res = await nativeRequest(t.srv, 'GET', `/api/me?${q}=${t.token}`)
      expect({ q, status: res.status }).toEqual({ q, status: 401 })
    }
  })

  it('oversized and malformed tokens are a 4xx, never a 5xx', async () => {
    const cases: Record<string, string> = {
      'token of 4097 characters': `${t.token}${'A'.repeat(4097 - t.token.length)}`,
      'token of 6000 characters': `${b64json({ ...t.header, pad: 'x'.repeat(4000) })}.${t.token.split('.')[1]}.${t.token.split('.')[2]}`,
      dots: '...',
      'empty segments': '..',
      'not base64': '!!!.###.$$$',
      'base64 of garbage': `${enc('garbage')}.${enc('garbage')}.${enc('garbage')}`,
      'header JSON truncated': `${enc('{"alg":"EdDSA"')}.${t.token.split('.')[1]}.${t.token.split('.')[2]}`,
    }
    await expectRefused(t, cases)
    // A bearer header too large for Node's parser is refused before Bastion (431), still not a 5xx.
    const huge = await nativeRequest(t.srv, 'GET', '/api/me', { headers: { Authorization: `Bearer ${'A'.repeat(20_000)}` } }).catch(() => null)
    if (huge) expect(huge.status).toBeGreaterThanOrEqual(400), expect(huge.status).toBeLessThan(500)
    await expectAccepted(t, t.token)
  })

  it('hundreds of seeded random mutations of the legitimate token: a 4xx every time, the real token still served', async () => {
    // Characters a cookie value may carry unchanged (no ; , space or quote: those would change the cookie, not the token).
    const cookieSafe = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&\'()*+/:<=>?@[]^`{|}~'.split(''))
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('replace' as const), at: fc.nat(), ch: cookieSafe }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), s: fc.string({ unit: cookieSafe, minLength: 1, maxLength: 8 }) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('swap' as const), i: fc.nat(2), j: fc.nat(2) }),
      fc.record({ op: fc.constant('segment' as const), i: fc.nat(2), s: fc.string({ unit: cookieSafe, maxLength: 120 }) }),
      fc.record({ op: fc.constant('flipbit' as const), seg: fc.nat(2), at: fc.nat(), bit: fc.nat(7) }),
    )
    type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never
    const apply = (s: string, m: Mutation): string => {
      const parts = s.split('.')
      switch (m.op) {
        case 'replace': {
          const i = m.at % s.length
          return s.slice(0, i) + m.ch + s.slice(i + 1)
        }
        case 'insert': {
          const i = m.at % (s.length + 1)
          return s.slice(0, i) + m.s + s.slice(i)
        }
        case 'delete': {
          const i = m.at % s.length
          return s.slice(0, i) + s.slice(i + m.n)
        }
        case 'truncate':
          return s.slice(0, m.at % s.length)
        case 'swap': {
          const p = [...parts]
          ;[p[m.i], p[m.j]] = [p[m.j]!, p[m.i]!]
          return p.join('.')
        }
        case 'segment': {
          const p = [...parts]
          p[m.i] = m.s
          return p.join('.')
        }
        case 'flipbit': {
          const p = [...parts]
          const bytes = Buffer.from(p[m.seg] ?? '', 'base64url')
          if (bytes.length === 0) return s
          bytes[m.at % bytes.length]! ^= 1 << m.bit
          p[m.seg] = bytes.toString('base64url')
          return p.join('.')
        }
      }
      throw new Error('unreachable')
    }
    let sent = 0
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), async (ms, asCookie) => {
        const token = ms.reduce((acc, m) => (acc.length > 0 ? apply(acc, m) : acc), t.token)
        fc.pre(token !== t.token && token.length > 0)
        sent++
        let res: Res
        if (asCookie) {
          const b = t.srv.browser()
          b.setCookie('__Host-access', await cookieFor(t.srv, token))
          res = await b.me()
        } else {
          res = await nativeRequest(t.srv, 'GET', '/api/me', { headers: { Authorization: `Bearer ${token}` } })
        }
        expectContractAnswer(res, `mutated token ${token.slice(0, 80)}`)
        expect(res.status, `a mutated token was accepted: ${token}`).toBeGreaterThanOrEqual(400)
      }),
      fuzzParams(300),
    )
    expect(sent).toBeGreaterThan(200)
    await expectAccepted(t, t.token, 'legitimate token after the mutations')
    expectNoUnexpectedErrors(t.logs)
  })
})

describe('token attacks (ES256 server)', () => {
  let t: Target
  beforeAll(async () => {
    t = await target({ algorithm: 'ES256' })
  })
  afterAll(async () => {
    await t?.srv.close()
  })

  it('ECDSA r = s = 0 with the right kid and alg, alg none, HS256 with the public key, EdDSA claiming the kid', async () => {
    expect(t.header.alg).toBe('ES256')
    await expectAccepted(t, t.token)
    const p = t.token.split('.')[1]!
    const h = t.token.split('.')[0]!
    const ed = generateKeyPairSync('ed25519')
    const edInput = `${b64json({ ...t.header, alg: 'EdDSA' })}.${p}`
    const hsInput = `${b64json({ ...t.header, alg: 'HS256' })}.${p}`
    await expectRefused(t, {
      'r=s=0 raw': `${h}.${p}.${enc(Buffer.alloc(64))}`,
      'r=s=0 DER': `${h}.${p}.${enc(Buffer.from('3006020100020100', 'hex'))}`,
      'r=s=n (the group order)': `${h}.${p}.${enc(Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'.repeat(2), 'hex'))}`,
      'alg none': `${b64json({ ...t.header, alg: 'none' })}.${p}.`,
      'HS256 with the JWK': `${hsInput}.${createHmac('sha256', JSON.stringify(t.jwk)).update(hsInput).digest('base64url')}`,
      'EdDSA key claiming the kid': `${edInput}.${enc(nodeSign(null, Buffer.from(edInput), ed.privateKey))}`,
    })
  })
})
