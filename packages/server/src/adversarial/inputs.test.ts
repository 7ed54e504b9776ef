/**
 * Property-based input fuzzing of every endpoint: JSON bodies of the wrong
 * type, huge, deeply nested, full of unicode and control characters, or not
 * JSON at all; odd content types and queries; random, duplicated and tossed
 * cookies; random, duplicated and missing headers. Seeded and bounded in
 * `npm test`, many more cases under `npm run fuzz` (BASTION_FUZZ_RUNS).
 *
 * The oracle: every answer is a 2xx or a contract error (JSON
 * `{error:{code,message}}`, no stack), within a deadline (no hang); no request
 * reaches the unexpected-error path (which would answer 503); and no state
 * changes that should not: a bystander's session and password are untouched,
 * and users appear only through a 201.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, errorShapeProblems, rawRequest, startServer, toRes, uniqueName, type Browser, type Res, type TestServer } from '../testing/harness.ts'
import { LogCollector, expectContractAnswer, expectNoUnexpectedErrors, fuzzParams } from './support.ts'

const HIGH = { max: 1_000_000, windowSeconds: 60 }

let srv: TestServer
const logs = new LogCollector()
let bystander: Browser
let bystanderName: string
let fuzzerName: string
let fuzzer: Browser

/** The username a register body names, if it is a string. */
function registeredName(body: string | Uint8Array | undefined): string | null {
  if (typeof body !== 'string') return null
  try {
    const parsed = JSON.parse(body) as { username?: unknown }
    return typeof parsed?.username === 'string' && parsed.username.length <= 256 ? parsed.username : null
  } catch {
    return null
  }
}

beforeAll(async () => {
  srv = await startServer({ log: logs.log, rateLimit: { loginPerAccount: HIGH, loginPerAddress: HIGH, registerPerAddress: HIGH } })
  bystanderName = await srv.user(uniqueName('bystander'))
  bystander = srv.browser()
  await bystander.signIn(bystanderName)
  fuzzerName = await srv.user(uniqueName('fuzzer'))
  fuzzer = srv.browser()
  await fuzzer.signIn(fuzzerName)
})
afterAll(async () => {
  await srv?.close()
})

const ENDPOINTS: [string, string][] = [
  ['GET', '/auth/csrf'],
  ['POST', '/auth/register'],
  ['POST', '/auth/login'],
  ['POST', '/auth/token'],
  ['POST', '/auth/refresh'],
  ['POST', '/auth/logout'],
  ['GET', '/auth/session'],
  ['GET', '/auth/sessions'],
  ['DELETE', '/auth/sessions/'],
  ['POST', '/auth/logout-all'],
  ['POST', '/auth/password'],
  ['GET', '/.well-known/jwks.json'],
  ['GET', '/api/me'],
  ['POST', '/api/echo'],
]

// ---- arbitraries -------------------------------------------------------------

/** Printable ASCII: what fetch lets through in a header value. */
const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 })
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 50 }),
  fc.constantFrom('\u0000', '\u202e', '\ufeff', 'ａｌｉｃｅ', 'ALICE', ' alice ', '\ud800', '😀'.repeat(100), 'a\u0301', '../../etc/passwd', "' OR 1=1 --", '<script>', '%00', '__proto__', 'constructor'),
  fc.string({ maxLength: 40 }).map((s) => s.repeat(1 + (s.length % 7) * 300)),
)
const anyJson: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 4 }), nasty, fc.constant(null), fc.integer(), fc.double(), fc.boolean())
const FIELDS = ['username', 'password', 'currentPassword', 'newPassword', 'refreshToken', 'to', 'amount', '__proto__', 'constructor']

const body: fc.Arbitrary<string | Uint8Array | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), anyJson, { maxKeys: 5 }).map((o) => JSON.stringify(o)) },
  // A valid-looking login with one field poisoned, to get past the shape checks.
  { weight: 2, arbitrary: fc.record({ field: fc.constantFrom('username', 'password'), value: anyJson }).map(({ field, value }) => JSON.stringify({ username: fuzzerName, password: 'not-the-password', [field]: value })) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 9000 }).map((d) => '['.repeat(d) + ']'.repeat(d)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((d) => '{"username":'.repeat(d) + '"x"' + '}'.repeat(d)) },
  { weight: 1, arbitrary: fc.integer({ min: 10_000, max: 60_000 }).map((n) => JSON.stringify({ username: 'a'.repeat(n), password: PASSWORD })) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 500 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('{"username":"a","username":"b","password":"x"}', '{"__proto__":{"admin":true}}', '{', '""', 'null', '[]', '{"a":1}garbage', '\ufeff{}') },
)
const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;', 'application/jsonx', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json, text/plain', ''),
  headerText,
)
const cookieName = fc.oneof(fc.constantFrom('__Host-access', '__Host-csrf', '__Secure-refresh', '__host-access', '__Host-access ', 'Cookie'), fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/))
const cookieValue = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'ABCxyz019-_.="%\\,'.split('')), maxLength: 60 }),
  fc.constantFrom('', '""', '"a;b"', 'eyJhbGciOiJub25lIn0.e30.', 's.' + 'A'.repeat(22) + '.' + 'B'.repeat(43)),
  headerText.filter((s) => !s.includes(';')),
)
const headerValue = fc.oneof(headerText, fc.constantFrom('', ' ', 'null', 'Bearer', 'Bearer ', 'Bearer a b', 'Basic YTpi', 'bearer x.y.z', 'cross-site', 'same-site', 'none', 'same-origin'))

const request = fc.record({
  endpoint: fc.constantFrom(...ENDPOINTS),
  suffix: fc.oneof(fc.constant(''), fc.constantFrom('?a=1', '?_method=POST', '?redirect=https://evil.example', '/', '%2e%2e/', '%00', '?' + 'x'.repeat(3000)), fc.stringMatching(/^[A-Za-z0-9%._~-]{0,40}$/)),
  withSession: fc.boolean(),
  csrf: fc.constantFrom('real', 'none', 'random', 'twice', 'empty'),
  body,
  contentType: fc.option(contentType, { nil: undefined }),
  cookies: fc.array(fc.tuple(cookieName, cookieValue), { maxLength: 4 }),
  headers: fc.array(fc.tuple(fc.constantFrom('Authorization', 'Origin', 'Sec-Fetch-Site', 'X-CSRF-Token', 'X-Forwarded-For', 'X-Forwarded-Host', 'Content-Length', 'X-HTTP-Method-Override', 'Accept', 'User-Agent'), headerValue), { maxLength: 4 }),
})

type Case = typeof request extends fc.Arbitrary<infer T> ? T : never

async function send(c: Case): Promise<Res> {
  const [method, path] = c.endpoint
  const url = srv.url + path + c.suffix
  const h = new Headers({ 'Sec-Fetch-Site': 'same-origin' })
  if (method !== 'GET') h.set('Origin', srv.origin)
  const jar: string[] = []
  if (c.withSession) jar.push(fuzzer.cookieHeader(path.split('?')[0]!))
  for (const [k, v] of c.cookies) jar.push(`${k}=${v}`)
  const cookie = jar.filter(Boolean).join('; ')
  if (cookie) h.set('Cookie', cookie)
  const real = fuzzer.cookie('__Host-csrf') ?? ''
  if (c.csrf === 'real') h.set('X-CSRF-Token', real)
  else if (c.csrf === 'random') h.set('X-CSRF-Token', 's.' + Math.random().toString(36).slice(2))
  else if (c.csrf === 'twice') (h.append('X-CSRF-Token', real), h.append('X-CSRF-Token', real))
  else if (c.csrf === 'empty') h.set('X-CSRF-Token', '')
  if (c.contentType !== undefined) h.set('Content-Type', c.contentType)
  for (const [k, v] of c.headers) {
    // fetch computes Content-Length itself; a forged one goes through the raw-socket property below.
    if (k !== 'Content-Length') h.append(k, v)
  }
  const canHaveBody = method !== 'GET' && method !== 'HEAD'
  const started = performance.now()
  const response = await fetch(url, {
    method,
    headers: h,
    body: canHaveBody ? (c.body as BodyInit | undefined) : undefined,
    signal: AbortSignal.timeout(10_000),
  })
  const res = await toRes(response)
  expect(performance.now() - started, 'answer time (a hang?)').toBeLessThan(10_000)
  return res
}

describe('input fuzzing', () => {
  it('every endpoint, any body, query, cookies and headers: a 2xx or a contract error, never a 5xx, a stack or a hang', async () => {
    // Positive controls: the fuzzer's and the bystander's sessions work before anything is sent.
    expect((await fuzzer.echo()).status).toBe(200)
    expect((await bystander.me()).status).toBe(200)
    const refusedNames = new Set<string>()
    const createdNames = new Set<string>()
    let cases = 0
    const statuses = new Set<number>()
    await fc.assert(
      fc.asyncProperty(request, async (c) => {
        cases++
        const res = await send(c)
        expectContractAnswer(res, `${c.endpoint.join(' ')}${c.suffix}`)
        statuses.add(res.status)
        if (c.endpoint[1] === '/auth/register') {
          const name = registeredName(c.body)
          if (res.status === 201) createdNames.add(res.body.user.username)
          else if (name !== null) refusedNames.add(name)
        }
        // A change of state the fuzzer was entitled to (its own logout, a password it guessed): start it afresh.
        if (res.status < 300 && c.endpoint[0] !== 'GET') {
          fuzzer = srv.browser()
          await fuzzer.signIn(fuzzerName)
        }
      }),
      fuzzParams(250),
    )
    expect(cases).toBeGreaterThanOrEqual(250)
    // The cases reach past the first check: successes and each family of refusal were seen.
    for (const s of [200, 400, 401, 403, 404]) expect([...statuses], `status ${s} never seen`).toContain(s)
    expectNoUnexpectedErrors(logs)
    // No state change that should not happen.
    // A refused registration created nobody (unless the same name was created by a later 201, or existed before).
    for (const name of refusedNames) {
      const found = await srv.bastion.findUser(name)
      if (found && !createdNames.has(found.username) && found.username !== fuzzerName && found.username !== bystanderName) {
        throw new Error(`a refused registration created ${JSON.stringify(name)}`)
      }
    }
    expect((await bystander.me()).status).toBe(200)
    expect((await bystander.refresh()).status).toBe(200)
    const again = srv.browser()
    expect((await again.login(bystanderName)).status).toBe(200)
    expect((await srv.browser().login(fuzzerName)).status).toBe(200)
  })

  it('raw bytes: duplicate headers, latin-1 and control characters in header values, forged lengths — never a 5xx or a hang', async () => {
    const fresh = srv.browser()
    await fresh.signIn(await srv.user())
    expect((await fresh.echo()).status).toBe(200) // positive control
    const latin1 = fc.string({ unit: fc.integer({ min: 0x00, max: 0xff }).filter((c) => c !== 0x0d && c !== 0x0a).map((c) => String.fromCharCode(c)), maxLength: 80 })
    const line = fc.tuple(
      fc.constantFrom('Cookie', 'X-CSRF-Token', 'Authorization', 'Origin', 'Sec-Fetch-Site', 'Content-Type', 'Content-Length', 'Transfer-Encoding', 'Host', 'X-Forwarded-For'),
      fc.oneof(latin1, fc.constantFrom(fresh.cookieHeader('/auth/refresh'), fresh.cookie('__Host-csrf')!, 'application/json', '5', '-1', '99999999999', 'chunked', srv.origin)),
    )
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.array(line, { maxLength: 6 }), fc.string({ maxLength: 200 }), async ([method, path], lines, payload) => {
        const head = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${srv.port}`, 'Connection: close', ...lines.map(([k, v]) => `${k}: ${v}`)]
        const res = await rawRequest(srv.port, `${head.join('\r\n')}\r\n\r\n${payload}`)
        // Node may answer a request its parser refuses with a bare 400/431, or close a connection it cannot frame.
        expect(res.status === 0 || (res.status >= 200 && res.status < 500), `${res.status} ${res.head.split('\r\n')[0]}`).toBe(true)
        if (res.body.startsWith('{"error"')) expect(errorShapeProblems({ status: res.status, headers: new Headers({ 'content-type': 'application/json' }), text: res.body, body: JSON.parse(res.body), setCookies: [] })).toEqual([])
        expect(res.body).not.toMatch(/\n\s+at /)
      }),
      fuzzParams(80),
    )
    expectNoUnexpectedErrors(logs)
    expect((await fresh.me()).status).toBe(200)
    expect((await bystander.me()).status).toBe(200)
  })
})
