import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveConfig } from './config.ts'
import { ConfigError } from './errors.ts'
import { sqliteStore } from './stores/sqlite/index.ts'
import { PASSWORD, SECRET, errorShapeProblems, expectError, nativeRequest, rawRequest, startServer, type Res, type TestServer } from './testing/harness.ts'

describe('bad input never gets a 500', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startServer()
  })
  afterAll(async () => {
    await srv?.close()
  })

  const anon = async () => {
    const b = srv.browser()
    await b.csrf()
    return b
  }

  it('malformed JSON, a JSON array, a scalar, invalid UTF-8 → 400 bad_request', async () => {
    const b = await anon()
    for (const body of ['{"username": "a"', '[1,2,3]', '"just a string"', 'null', '', '{"username":"x","password":"y"}garbage']) {
      expectError(await b.post('/auth/login', body), 400, 'bad_request')
    }
    const bytes = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])
    const res = await fetch(`${srv.url}/auth/login`, {
      method: 'POST',
      body: bytes,
      headers: { 'Content-Type': 'application/json', Cookie: b.cookieHeader('/auth/login'), 'X-CSRF-Token': b.cookie('__Host-csrf')! },
    })
    expect(res.status).toBe(400)
  })

  it('wrong content types (text/plain, form, none, json-ish) → 400 bad_request', async () => {
    const b = await anon()
    const body = JSON.stringify({ username: 'someone', password: PASSWORD })
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'text/json']) {
      expectError(await b.post('/auth/login', body, { headers: { 'Content-Type': type } }), 400, 'bad_request')
    }
    expectError(await b.post('/auth/login', undefined), 400, 'bad_request')
    expectError(await nativeRequest(srv, 'POST', '/auth/token', { body, headers: { 'Content-Type': 'text/plain' } }), 400, 'bad_request')
  })

  it('a 20 KB body → 413 payload_too_large (declared length and chunked)', async () => {
    const b = await anon()
    const big = JSON.stringify({ username: 'x', password: 'y'.repeat(20_000) })
    expectError(await b.post('/auth/login', big), 413, 'payload_too_large')
    expectError(await nativeRequest(srv, 'POST', '/auth/token', { body: big }), 413, 'payload_too_large')
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode('x'.repeat(1024)))
        c.close()
      },
    })
    const chunked = await fetch(`${srv.url}/auth/token`, { method: 'POST', body: stream, headers: { 'Content-Type': 'application/json' }, duplex: 'half' } as RequestInit)
    expect(chunked.status).toBe(413)
    expect(((await chunked.json()) as any).error.code).toBe('payload_too_large')
  })

  it('missing or mistyped fields → 400', async () => {
    const b = await anon()
    for (const body of [{}, { username: 'someone' }, { password: PASSWORD }, { username: 42, password: PASSWORD }, { username: 'someone', password: ['x'] }, { username: '', password: '' }]) {
      expectError(await b.post('/auth/login', body), 400, 'bad_request')
      expectError(await b.post('/auth/register', body), 400, 'bad_request')
    }
    const me = srv.browser()
    await me.signIn(await srv.user())
    expectError(await me.post('/auth/password', {}), 400, 'bad_request')
    expectError(await me.post('/auth/password', { currentPassword: PASSWORD }), 400, 'bad_request')
  })

  it('a 300-character username → 400; invalid usernames on register → 400', async () => {
    const b = await anon()
    expectError(await b.post('/auth/login', { username: 'u'.repeat(300), password: PASSWORD }), 400, 'bad_request')
    expectError(await b.post('/auth/register', { username: 'u'.repeat(300), password: PASSWORD }), 400, 'bad_request')
    for (const username of ['ab', '-leading', 'has space', 'semi;colon', '<script>', 'u'.repeat(65)]) {
      expectError(await b.post('/auth/register', { username, password: PASSWORD }), 400, 'bad_request')
    }
    expectError(await b.post('/auth/register', { username: 'shortpass', password: 'short' }), 400, 'bad_request')
    expectError(await b.post('/auth/register', { username: 'longpass', password: 'p'.repeat(300) }), 400, 'bad_request')
    expectError(await b.post('/auth/register', { username: 'samepass1', password: 'SAMEPASS1' }), 400, 'bad_request')
  })

  it('a 7 KB garbage Cookie header → 401, a 9 KB one → 400 (not 500)', async () => {
    const b = srv.browser()
    const garbage = Array.from({ length: 300 }, (_, i) => `junk${i}=${'z'.repeat(14)}`).join('; ')
    expect(garbage.length).toBeGreaterThan(7000)
    expect(garbage.length).toBeLessThan(8192)
    expectError(await b.me({ headers: { Cookie: garbage } }), 401, 'unauthenticated')
    expectError(await b.get('/auth/session', { headers: { Cookie: garbage } }), 401, 'unauthenticated')
    const huge = 'a='.concat('b'.repeat(9000))
    expectError(await b.me({ headers: { Cookie: huge } }), 400, 'bad_request')
    expectError(await b.get('/auth/csrf', { headers: { Cookie: huge } }), 400, 'bad_request')
  })

  it('junk in the access cookie (non-base64, three dots, quotes, 5 KB) → 401 unauthenticated', async () => {
    const b = srv.browser()
    for (const value of ['!!!@@@###', 'a.b.c', '...', '"quoted"', 'eyJhbGciOiJub25lIn0.e30.', '%00%01', 'x'.repeat(5000), '=====', 'é-unicode']) {
      const res = await b.me({ headers: { Cookie: `__Host-access=${encodeURIComponent(value) === value ? value : value}` } })
      expect({ value: value.slice(0, 20), status: res.status }).toEqual({ value: value.slice(0, 20), status: 401 })
      expect(errorShapeProblems(res)).toEqual([])
    }
    for (const cookie of ['__Host-access', '__Host-access=', '=; ;; =x', '__Host-csrf=s.junk; __Host-access=junk']) {
      const res = await b.me({ headers: { Cookie: cookie } })
      expect(res.status).toBeLessThan(500)
      expect([401, 403]).toContain(res.status)
      expect(errorShapeProblems(res)).toEqual([])
    }
  })

  it('control characters in a cookie (sent raw) never produce a 500', async () => {
    for (const ctl of ['\x01', '\x7f', '\x1b[31m']) {
      const raw = `GET /api/me HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nCookie: __Host-access=ab${ctl}cd; __Host-csrf=s.${ctl}\r\nConnection: close\r\n\r\n`
      const res = await rawRequest(srv.port, raw)
      expect(res.status, res.head).toBeGreaterThanOrEqual(400)
      expect(res.status, res.head).toBeLessThan(500)
      expect(res.body).not.toMatch(/\n\s+at /)
    }
    const highBytes = `GET /api/me HTTP/1.1\r\nHost: 127.0.0.1:${srv.port}\r\nCookie: __Host-access=\xff\xfe\x80\r\nConnection: close\r\n\r\n`
    const res = await rawRequest(srv.port, highBytes)
    expect(res.status).toBe(401)
  })

  it('unknown path under /auth → 404 not_found JSON; a wrong method → 404 JSON', async () => {
    const b = await anon()
    expectError(await b.get('/auth/nope'), 404, 'not_found')
    expectError(await b.get('/auth/'), 404, 'not_found')
    expectError(await b.get('/auth/sessions/a/b'), 404, 'not_found')
    expectError(await b.post('/auth/nope'), 404, 'not_found')
    expectError(await b.get('/auth/login'), 404, 'not_found')
    expectError(await b.request('PUT', '/auth/login', { body: {} }), 404, 'not_found')
    expectError(await b.request('DELETE', '/auth/csrf'), 404, 'not_found')
    expectError(await b.post('/.well-known/jwks.json'), 404, 'not_found')
    expectError(await b.request('PATCH', '/auth/sessions/some-id'), 404, 'not_found')
    const head = await fetch(`${srv.url}/auth/nope`, { method: 'HEAD' })
    expect(head.status).toBe(404)
  })

  it('percent garbage in DELETE /auth/sessions/%E0%A4%A → 404 not 500', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    for (const id of ['%E0%A4%A', '%', '%ZZ', '%00', '..%2F..%2Fetc', 'x'.repeat(3000)]) {
      const res = await b.request('DELETE', `/auth/sessions/${id}`)
      expect({ id: id.slice(0, 20), status: res.status, code: res.body?.error?.code }).toEqual({ id: id.slice(0, 20), status: 404, code: 'not_found' })
    }
    expect((await b.me()).status).toBe(200)
  })

  it('every error body is {error:{code,message}} without stack lines, across a sweep of bad requests', async () => {
    const b = await anon()
    const answers: Res[] = [
      await b.post('/auth/login', '{bad'),
      await b.post('/auth/login', {}, { csrf: false }),
      await b.get('/auth/session'),
      await b.get('/auth/zzz'),
      await b.post('/auth/refresh'),
      await b.post('/auth/logout-all'),
      await b.post('/auth/password', { currentPassword: 'x', newPassword: 'y' }),
      await b.request('DELETE', '/auth/sessions/x'),
      await nativeRequest(srv, 'POST', '/auth/refresh', { body: { refreshToken: 'x'.repeat(300) } }),
      await nativeRequest(srv, 'POST', '/auth/token', { body: { username: 'nobody-here', password: 'wrong-wrong-wrong' } }),
      await nativeRequest(srv, 'GET', '/api/me', { headers: { Authorization: 'Bearer x' } }),
    ]
    for (const res of answers) {
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(res.status).toBeLessThan(500)
      expect(errorShapeProblems(res), res.text).toEqual([])
      expect(res.text).not.toMatch(/ at |\.ts:\d+/)
    }
  })

  it('a malformed Host header is not a 500', async () => {
    const res = await rawRequest(srv.port, `GET /auth/session HTTP/1.1\r\nHost: [bad host\r\nConnection: close\r\n\r\n`)
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(res.status).toBeLessThan(500)
  })
})

describe('rate limits', () => {
  it('the 4th failed login for one account → 429 rate_limited with Retry-After; the right password is refused too until the window ends', async () => {
    const srv = await startServer({ rateLimit: { loginPerAccount: { max: 3, windowSeconds: 60 } } })
    try {
      const name = await srv.user()
      const b = srv.browser()
      for (let i = 0; i < 3; i++) expectError(await b.login(name, 'wrong-password-x'), 401, 'invalid_credentials')
      const limited = await b.login(name, 'wrong-password-x')
      expectError(limited, 429, 'rate_limited')
      const retry = Number(limited.headers.get('retry-after'))
      expect(Number.isInteger(retry)).toBe(true)
      expect(retry).toBeGreaterThanOrEqual(1)
      expect(retry).toBeLessThanOrEqual(60)
      expectError(await srv.browser().login(name, PASSWORD), 429, 'rate_limited')
      expectError(await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD } }), 429, 'rate_limited')
      // Another account is not affected.
      expect((await srv.browser().login(await srv.user())).status).toBe(200)
      srv.clock.advance(61)
      expect((await srv.browser().login(name, PASSWORD)).status).toBe(200)
    } finally {
      await srv.close()
    }
  })

  // Regression (found by this suite): the limit was peeked before the password check and counted
  // after it, so parallel guesses all slipped under it. At most `max` attempts may get a verdict.
  it('concurrent wrong guesses cannot exceed the per-account limit', async () => {
    // Production-like Argon2 cost: the window between the peek and the record is one hash long.
    const srv = await startServer({ rateLimit: { loginPerAccount: { max: 3, windowSeconds: 60 } }, argon2: { memoryCost: 19_456, timeCost: 2, parallelism: 1 } })
    try {
      const name = await srv.user()
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: `wrong-guess-${i}` } })),
      )
      const judged = results.filter((r) => r.status === 401).length
      expect(results.filter((r) => r.status === 429).length).toBe(30 - judged)
      expect(judged).toBeLessThanOrEqual(3)
    } finally {
      await srv.close()
    }
  })

  it('per-address limit → 429 rate_limited with Retry-After, across accounts', async () => {
    const srv = await startServer({ rateLimit: { loginPerAddress: { max: 4, windowSeconds: 60 } } })
    try {
      const b = srv.browser()
      await b.csrf()
      for (let i = 0; i < 4; i++) expectError(await b.login(`nobody${i}`, 'wrong-password-x'), 401, 'invalid_credentials')
      const limited = await b.login(await srv.user())
      expectError(limited, 429, 'rate_limited')
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expectError(await nativeRequest(srv, 'POST', '/auth/token', { body: { username: 'nobody', password: 'x'.repeat(12) } }), 429, 'rate_limited')
    } finally {
      await srv.close()
    }
  })

  it('per-address register limit → 429', async () => {
    const srv = await startServer({ rateLimit: { registerPerAddress: { max: 2, windowSeconds: 60 } } })
    try {
      const b = srv.browser()
      expect((await b.register(`r${process.pid}a`)).status).toBe(201)
      expect((await b.register(`r${process.pid}b`)).status).toBe(201)
      const limited = await b.register(`r${process.pid}c`)
      expectError(limited, 429, 'rate_limited')
      expect(limited.headers.get('retry-after')).toMatch(/^\d+$/)
    } finally {
      await srv.close()
    }
  })

  it('unknown user and wrong password give the same status, code and message', async () => {
    const srv = await startServer()
    try {
      const b = srv.browser()
      const unknown = await b.login('no-such-user-anywhere', 'wrong-password-x')
      const wrong = await b.login(await srv.user(), 'wrong-password-x')
      const invalidName = await b.login('!!', 'wrong-password-x')
      expectError(unknown, 401, 'invalid_credentials')
      expect(wrong.body).toEqual(unknown.body)
      expect(invalidName.body).toEqual(unknown.body)
      const t1 = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: 'no-such-user-anywhere', password: 'wrong-password-x' } })
      expect(t1.body).toEqual(unknown.body)
    } finally {
      await srv.close()
    }
  })
})

describe('config validation', () => {
  const store = sqliteStore({ file: ':memory:' })
  afterAll(async () => {
    await store.close()
  })
  const base = { store, secret: SECRET }
  const bad = (extra: Record<string, unknown>, message: RegExp) => {
    expect(() => resolveConfig({ ...base, ...extra } as never)).toThrow(ConfigError)
    expect(() => resolveConfig({ ...base, ...extra } as never)).toThrow(message)
  }

  it('accepts the defaults', () => {
    const c = resolveConfig(base)
    expect(c.cookies.access).toEqual({ name: '__Host-access', sameSite: 'Lax', path: '/' })
    expect(c.cookies.refresh).toEqual({ name: '__Secure-refresh', sameSite: 'Strict', path: '/auth' })
    expect(c.cookies.csrf).toEqual({ name: '__Host-csrf', sameSite: 'Lax', path: '/' })
    expect(c.accessTtl).toBe(300)
    expect(c.csrfHeader).toBe('X-CSRF-Token')
  })

  it('refuses a secret shorter than 32 characters', () => {
    bad({ secret: 'short' }, /at least 32 characters/)
    bad({ secret: 'x'.repeat(31) }, /secret/)
    bad({ secret: undefined }, /secret/)
  })

  it('refuses a __Host- cookie with a Domain, or with a Path other than /', () => {
    bad({ cookies: { access: { domain: 'example.com' } } }, /__Host-.*Domain/)
    bad({ cookies: { csrf: { path: '/app' } } }, /Path=\//)
    bad({ cookies: { csrf: { name: '__Host-x', path: '/auth' } } }, /Path=\//)
    expect(() => resolveConfig({ ...base, cookies: { refresh: { domain: 'example.com' } } })).not.toThrow()
  })

  it('refuses allowed origins that are not origins', () => {
    for (const origin of ['https://x.com/path', '*', 'x.com', 'ftp://x.com', 'https://x.com?q', '']) {
      bad({ allowedOrigins: [origin] }, /allowedOrigins/)
    }
    expect(resolveConfig({ ...base, allowedOrigins: ['http://localhost:5173', 'https://app.example.com/'] }).allowedOrigins).toEqual(
      new Set(['http://localhost:5173', 'https://app.example.com']),
    )
  })

  // Regression (found by this suite): WHATWG URL accepts '*' in a host, so a wildcard passed as a
  // literal origin that no browser ever sends: a silent no-op instead of a ConfigError.
  it('refuses a wildcard host in allowedOrigins', () => {
    bad({ allowedOrigins: ['https://*.example.com'] }, /allowedOrigins/)
  })

  it('refuses a plain-HTTP publicOrigin that is not localhost, and non-origins', () => {
    bad({ publicOrigin: 'http://example.com' }, /plain HTTP/)
    bad({ publicOrigin: 'https://example.com/app' }, /not an origin/)
    expect(resolveConfig({ ...base, publicOrigin: 'http://localhost:3000' }).publicOrigin).toBe('http://localhost:3000')
    expect(resolveConfig({ ...base, publicOrigin: 'https://example.com' }).issuer).toBe('https://example.com')
  })

  it('refuses other nonsense with a ConfigError', () => {
    bad({ accessTtl: 0 }, /accessTtl/)
    bad({ accessTtl: 2_000_000 }, /accessTtl/)
    bad({ refreshGrace: -1 }, /refreshGrace/)
    bad({ csrfHeader: 'X CSRF' }, /csrfHeader/)
    bad({ cookies: { csrf: { name: '__Host-access' } } }, /different names/)
    bad({ cookies: { csrf: { name: 'bad name' } } }, /valid cookie name/)
    bad({ algorithm: 'HS256' }, /algorithm/)
    bad({ password: { minLength: 4 } }, /minLength/)
    bad({ production: true, allowedOrigins: ['http://app.example.com'] }, /HTTPS/)
    bad({ store: undefined }, /store/)
  })

  it('createBastion rejects with the ConfigError and starts nothing', async () => {
    const { createBastion } = await import('./bastion.ts')
    await expect(createBastion({ store, secret: 'short' })).rejects.toBeInstanceOf(ConfigError)
    await expect(createBastion({ store, secret: SECRET, publicOrigin: 'http://example.com' })).rejects.toThrow(/plain HTTP/)
  })
})
