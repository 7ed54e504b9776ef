/**
 * Cookie and CSRF edge cases. Each case starts from a signed-in browser whose
 * legitimate request succeeds (the positive control), then sends the attack
 * and checks both the answer and that nothing changed: the session is live,
 * its refresh token was not rotated, the CSRF cookie is the same.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PASSWORD, expectError, rawRequest, startServer, type Browser, type TestServer } from '../testing/harness.ts'
import { LogCollector, expectNoUnexpectedErrors } from './support.ts'

let srv: TestServer
const logs = new LogCollector()

beforeAll(async () => {
  srv = await startServer({ log: logs.log })
})
afterAll(async () => {
  expectNoUnexpectedErrors(logs)
  await srv?.close()
})

async function signedIn(): Promise<Browser> {
  const b = srv.browser()
  await b.signIn(await srv.user())
  // Positive control: the CSRF-guarded POST works for this browser as it is.
  expect((await b.echo()).status).toBe(200)
  return b
}

/** The session is alive and untouched: same refresh token and CSRF cookie, and both still work. */
async function expectUnchanged(b: Browser, before: { refresh: string; csrf: string }): Promise<void> {
  expect(b.cookie('__Secure-refresh')).toBe(before.refresh)
  expect(b.cookie('__Host-csrf')).toBe(before.csrf)
  expect((await b.me()).status).toBe(200)
  expect((await b.echo()).status).toBe(200)
  const r = await b.refresh()
  expect(r.status, r.text).toBe(200)
  expect(b.cookie('__Secure-refresh')).not.toBe(before.refresh)
}

const snapshot = (b: Browser) => ({ refresh: b.cookie('__Secure-refresh')!, csrf: b.cookie('__Host-csrf')! })

/** Sends one request on a raw socket, header names spelled exactly as given (fetch would normalise them). */
function raw(method: string, path: string, headers: [string, string][], body = ''): Promise<{ status: number; head: string; body: string }> {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${srv.port}`, 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)]
  if (body || method === 'POST') lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`)
  return rawRequest(srv.port, `${lines.join('\r\n')}\r\n\r\n${body}`)
}

const browserHeaders = (b: Browser, path: string): [string, string][] => [
  ['Cookie', b.cookieHeader(path)],
  ['Origin', srv.origin],
  ['Sec-Fetch-Site', 'same-origin'],
]

describe('tossed cookies (two of one name: a parent-domain cookie beside the real one)', () => {
  it('a second __Host-csrf, __Host-access or __Secure-refresh is refused on every state change, and changes nothing', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    const attacker = await signedIn()
    const tossed = { csrf: attacker.cookie('__Host-csrf')!, access: attacker.cookie('__Host-access')!, refresh: attacker.cookie('__Secure-refresh')! }
    const api = b.cookieHeader('/api/echo')
    const auth = b.cookieHeader('/auth/refresh')
    for (const [label, cookie] of [
      ['csrf after', `${api}; __Host-csrf=${tossed.csrf}`],
      ['csrf before', `__Host-csrf=${tossed.csrf}; ${api}`],
      ['access before', `__Host-access=${tossed.access}; ${api}`],
      ['same csrf twice', `${api}; __Host-csrf=${before.csrf}`],
    ] as const) {
      expectError(await b.echo({}, { headers: { Cookie: cookie } }), 403, 'csrf_failed')
      void label
    }
    // Refresh and logout with a tossed refresh cookie: refused, and neither rotates nor revokes the real session.
    expectError(await b.refresh({ headers: { Cookie: `__Secure-refresh=${tossed.refresh}; ${auth}` } }), 403, 'csrf_failed')
    expectError(await b.refresh({ headers: { Cookie: `${auth}; __Secure-refresh=${before.refresh}` } }), 403, 'csrf_failed')
    expectError(await b.logout({ headers: { Cookie: `${auth}; __Host-csrf=${tossed.csrf}` } }), 403, 'csrf_failed')
    expectError(await b.post('/auth/logout-all', undefined, { headers: { Cookie: `__Host-access=${tossed.access}; ${auth}` } }), 403, 'csrf_failed')
    // The attacker's session is untouched too (a refused request revokes nobody).
    expect((await attacker.me()).status).toBe(200)
    await expectUnchanged(b, before)
  })

  it('a Cookie header split over two header lines is read as one jar: the duplicate is still seen', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    const other = await signedIn()
    const [first, ...rest] = b.cookieHeader('/api/echo').split('; ')
    const res = await raw('POST', '/api/echo', [
      ['Cookie', `${first}`],
      ['Cookie', `${rest.join('; ')}; __Host-csrf=${other.cookie('__Host-csrf')}`],
      ['Origin', srv.origin],
      ['X-CSRF-Token', before.csrf],
    ], '{}')
    expect(res.status).toBe(403)
    expect(res.body).toContain('csrf_failed')
    await expectUnchanged(b, before)
  })
})

describe('the CSRF header', () => {
  it("another session's token, in the header only or in header and cookie, is refused", async () => {
    const b = await signedIn()
    const before = snapshot(b)
    const other = await signedIn()
    const theirs = other.cookie('__Host-csrf')!
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': theirs } }), 403, 'csrf_failed')
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': theirs, Cookie: `${b.cookieHeader('/api/echo').replace(before.csrf, theirs)}` } }), 403, 'csrf_failed')
    await expectUnchanged(b, before)
  })

  it('a valid token with its HMAC tampered (in the header, or in header and cookie alike) is refused', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    const [kind, nonce, mac] = before.csrf.split('.') as [string, string, string]
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
    for (const tampered of [`${kind}.${nonce}.${flip(mac, 0)}`, `${kind}.${nonce}.${flip(mac, 20)}`, `${kind}.${flip(nonce, 3)}.${mac}`, `p.${nonce}.${mac}`]) {
      expectError(await b.echo({}, { headers: { 'X-CSRF-Token': tampered } }), 403, 'csrf_failed')
      const cookie = b.cookieHeader('/api/echo').replace(before.csrf, tampered)
      expectError(await b.echo({}, { headers: { 'X-CSRF-Token': tampered, Cookie: cookie } }), 403, 'csrf_failed')
    }
    await expectUnchanged(b, before)
  })

  it('an empty header, whitespace, and the header sent twice (even twice the right value) are refused', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': '' } }), 403, 'csrf_failed')
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': ' ' } }), 403, 'csrf_failed')
    expectError(await b.echo({}, { headers: { 'X-CSRF-Token': `${before.csrf}, ${before.csrf}` } }), 403, 'csrf_failed')
    for (const pair of [[before.csrf, before.csrf], [before.csrf, 'junk'], ['junk', before.csrf], ['', before.csrf]]) {
      const res = await raw('POST', '/api/echo', [...browserHeaders(b, '/api/echo'), ['X-CSRF-Token', pair[0]!], ['X-CSRF-Token', pair[1]!]], '{}')
      expect({ pair, status: res.status }).toEqual({ pair, status: 403 })
    }
    await expectUnchanged(b, before)
  })

  it('case variants of the header name are the same header (HTTP names are case-insensitive); look-alike names are not', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    for (const name of ['X-CSRF-Token', 'x-csrf-token', 'X-CSRF-TOKEN', 'x-CsRf-ToKeN']) {
      const res = await raw('POST', '/api/echo', [...browserHeaders(b, '/api/echo'), [name, before.csrf]], '{}')
      expect({ name, status: res.status }).toEqual({ name, status: 200 })
    }
    for (const name of ['X-CSRF_Token', 'X_CSRF_TOKEN', 'X-XSRF-Token', 'CSRF-Token', 'X-CSRFToken', 'X-CSRF-Token-']) {
      const res = await raw('POST', '/api/echo', [...browserHeaders(b, '/api/echo'), [name, before.csrf]], '{}')
      expect({ name, status: res.status }).toEqual({ name, status: 403 })
    }
    await expectUnchanged(b, before)
  })
})

describe('method tricks', () => {
  it('X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override and _method never turn a GET into a state change', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    const overrides = { 'X-HTTP-Method-Override': 'POST', 'X-HTTP-Method': 'POST', 'X-Method-Override': 'POST' }
    for (const path of ['/auth/logout', '/auth/logout-all', '/auth/refresh', '/auth/password', '/api/echo']) {
      for (const [k, v] of Object.entries(overrides)) {
        const res = await b.get(path, { headers: { [k]: v } })
        expect({ path, k, status: res.status }).toEqual({ path, k, status: 404 })
      }
      expect((await b.get(`${path}?_method=POST`)).status).toBe(404)
      expect((await b.get(`${path}?_method=post&X-HTTP-Method-Override=POST`)).status).toBe(404)
    }
    const sid = (await b.get('/auth/session')).body.session.id
    expect((await b.get(`/auth/sessions/${sid}`, { headers: { 'X-HTTP-Method-Override': 'DELETE' } })).status).toBe(404)
    expect((await b.get(`/auth/sessions/${sid}?_method=DELETE`)).status).toBe(404)
    // A POST cannot dodge the CSRF check by calling itself a GET.
    expectError(await b.echo({}, { csrf: false, headers: { 'X-HTTP-Method-Override': 'GET' } }), 403, 'csrf_failed')
    expectError(await b.post('/auth/logout-all?_method=GET', undefined, { csrf: false }), 403, 'csrf_failed')
    expectError(await b.post(`/auth/sessions/${sid}`, undefined, { headers: { 'X-HTTP-Method-Override': 'DELETE' } }), 404, 'not_found')
    await expectUnchanged(b, before)
  })

  it('HEAD and OPTIONS (with and without a preflight) change nothing on any auth endpoint', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    const sid = (await b.get('/auth/session')).body.session.id
    for (const path of ['/auth/logout', '/auth/logout-all', '/auth/refresh', '/auth/password', '/auth/login', '/auth/register', `/auth/sessions/${sid}`, '/api/echo']) {
      const head = await b.request('HEAD', path)
      expect({ path, head: head.status }).toEqual({ path, head: 404 })
      const options = await b.request('OPTIONS', path)
      expect(options.status, path).toBeGreaterThanOrEqual(400)
      expect(options.status, path).toBeLessThan(500)
      const pre = await b.request('OPTIONS', path, { headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } })
      expect({ path, pre: pre.status }).toEqual({ path, pre: 403 })
      expect(pre.headers.get('access-control-allow-origin'), path).toBeNull()
    }
    expect(b.last?.setCookies ?? []).toEqual([])
    await expectUnchanged(b, before)
  })

  it('methods outside the route table (PUT, PATCH, TRACE, a made-up one) answer 404 (an unknown one: 400 from the Node parser) and change nothing', async () => {
    const b = await signedIn()
    const before = snapshot(b)
    for (const method of ['PUT', 'PATCH', 'DELETE', 'PROPFIND', 'FOO']) {
      for (const path of ['/auth/logout', '/auth/logout-all', '/auth/login']) {
        const res = await b.request(method, path, { body: { username: 'x', password: PASSWORD } })
        // Node's HTTP parser refuses a method it does not know (400) before Bastion sees it.
        expect({ method, path, status: res.status }).toEqual({ method, path, status: method === 'FOO' ? 400 : 404 })
      }
    }
    await expectUnchanged(b, before)
  })
})
