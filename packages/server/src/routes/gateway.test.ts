// The gateway over real sockets: a Bastion on one port, a real upstream on another that trusts nothing but
// Bastion's JWKS and counts what reaches it. Every refusal is checked against that count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LogCollector } from '../adversarial/support.ts'
import { rawRequest, startServer, type Browser, type TestServer } from '../testing/harness.ts'
import { deadPort, startUpstream, type Upstream } from '../testing/upstream.ts'

interface Rig {
  srv: TestServer
  up: Upstream
  logs: LogCollector
  browser: Browser
}

describe('gateway: the signed-in path', () => {
  let r: Rig
  beforeAll(async () => {
    let srv: TestServer | undefined
    const up = await startUpstream({ jwksUrl: () => `${srv!.url}/.well-known/jwks.json`, issuer: 'bastion', audience: 'orders-api' })
    const logs = new LogCollector()
    srv = await startServer({ log: logs.log, gateway: { upstream: up.url, audience: 'orders-api' } })
    const browser = srv.browser()
    await browser.signIn(await srv.user())
    r = { srv, up, logs, browser }
  })
  afterAll(async () => {
    await r?.srv.close()
    await r?.up.close()
  })

  it('a signed-in GET reaches the upstream with a JWKS-verifiable bearer for its audience, and without the browser\'s cookies or CSRF header', async () => {
    const res = await r.browser.get('/gateway/orders?page=2', { headers: { 'X-CSRF-Token': 'should-not-pass', 'X-Custom': 'kept' } })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ method: 'GET', url: '/orders?page=2', aud: 'orders-api' })
    const seen = r.up.seen.at(-1)!
    expect(seen.tokenError).toBeNull()
    const claims = seen.claims!
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(60)
    expect(claims).toMatchObject({ iss: 'bastion', aud: 'orders-api', client_id: 'bastion-gateway' })
    expect(seen.headers.cookie).toBeUndefined()
    expect(seen.headers['x-csrf-token']).toBeUndefined()
    expect(seen.headers['x-custom']).toBe('kept')
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${r.srv.port}`)
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect(seen.headers['x-forwarded-prefix']).toBe('/gateway')
  })

  it('a signed-in POST reaches it with its body, CSRF checked by Bastion and stripped; the upstream\'s status comes back', async () => {
    const before = r.up.seen.length
    const res = await r.browser.post('/gateway/created', { item: 'book', qty: 2 })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({ method: 'POST', body: JSON.stringify({ item: 'book', qty: 2 }) })
    expect(r.up.seen.length).toBe(before + 1)
    expect(r.up.seen.at(-1)!.headers['x-csrf-token']).toBeUndefined()
    expect(r.up.seen.at(-1)!.headers['content-type']).toBe('application/json')
  })

  it('the upstream token is refused by Bastion itself (another audience)', async () => {
    const token = /^Bearer (\S+)$/.exec(r.up.seen.at(-1)!.headers.authorization!)![1]!
    const res = await r.srv.browser().get('/api/me', { headers: { Authorization: `Bearer ${token}`, 'Sec-Fetch-Site': null } })
    expect(res.status).toBe(401)
  })

  it('refused before the upstream sees them: no cookie, cross-site POST, same-site sibling POST, Origin of another site, POST without CSRF, a forged CSRF token', async () => {
    const before = r.up.seen.length
    const anonymous = await r.srv.browser().get('/gateway/orders')
    expect(anonymous.status).toBe(401)
    const attempts = {
      'cross-site': await r.browser.post('/gateway/created', { x: 1 }, { headers: { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' } }),
      'same-site sibling': await r.browser.post('/gateway/created', { x: 1 }, { headers: { 'Sec-Fetch-Site': 'same-site', Origin: 'https://sibling.127.0.0.1.nip.io' } }),
      'foreign Origin, no fetch metadata': await r.browser.post('/gateway/created', { x: 1 }, { headers: { 'Sec-Fetch-Site': null, Origin: 'https://evil.example' } }),
      'Origin null': await r.browser.post('/gateway/created', { x: 1 }, { headers: { Origin: 'null' } }),
      'no CSRF header': await r.browser.post('/gateway/created', { x: 1 }, { csrf: false }),
      'forged CSRF header': await r.browser.post('/gateway/created', { x: 1 }, { headers: { 'X-CSRF-Token': 'AAAA' } }),
      'DELETE without CSRF': await r.browser.request('DELETE', '/gateway/orders/1', { csrf: false }),
    }
    for (const [label, res] of Object.entries(attempts)) {
      expect({ label, status: res.status, code: res.body?.error?.code }).toMatchObject({ label, status: 403 })
    }
    expect(r.up.seen.length, 'the upstream saw none of them').toBe(before)
    expect(r.logs.named('request_refused').length).toBeGreaterThanOrEqual(Object.keys(attempts).length)
  })

  it('an upstream Set-Cookie for an auth cookie name is dropped (and logged), others pass; its CORS and hop-by-hop headers do not', async () => {
    const res = await r.browser.get('/gateway/set-cookie')
    expect(res.status).toBe(200)
    const names = res.setCookies.map((c) => c.split('=')[0])
    expect(names).toEqual(['upstream-pref'])
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    expect(res.headers.get('x-upstream-secret')).toBeNull()
    expect(r.logs.named('gateway_cookie_dropped').map((e) => e.cookie)).toEqual(['__Host-access', '__host-ACCESS', '__Secure-refresh', '__Host-csrf'])
    // The session is untouched: the browser's own access cookie still works.
    expect((await r.browser.me()).status).toBe(200)
  })

  it('a redirect into the upstream is mapped under the prefix', async () => {
    const res = await fetch(`${r.srv.url}/gateway/redirect`, { headers: { Cookie: r.browser.cookieHeader('/gateway/redirect') }, redirect: 'manual' })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('/gateway/landing?x=1')
  })

  it('the response body is streamed (chunks arrive before the upstream has finished)', async () => {
    const cookie = r.browser.cookieHeader('/gateway/stream')
    const t0 = Date.now()
    const res = await fetch(`${r.srv.url}/gateway/stream?chunks=10`, { headers: { Cookie: cookie } })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const first = await reader.read()
    const firstAt = Date.now() - t0
    let text = new TextDecoder().decode(first.value)
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += new TextDecoder().decode(value)
    }
    const allAt = Date.now() - t0
    expect(text.trim().split('\n')).toHaveLength(10)
    // The upstream writes a chunk every 20 ms: the first must come well before the last.
    expect(allAt - firstAt).toBeGreaterThan(100)
  })

  it('hop-by-hop games: Connection naming X-Forwarded-For, Authorization or Cookie removes nothing the gateway sets; TE and Upgrade do not pass', async () => {
    const cookie = r.browser.cookieHeader('/gateway/orders')
    // Raw bytes: fetch refuses to send a Connection header at all.
    const res = await rawRequest(
      r.srv.port,
      `GET /gateway/orders HTTP/1.1\r\nHost: 127.0.0.1:${r.srv.port}\r\nCookie: ${cookie}\r\n` +
        'Connection: close, X-Forwarded-For, Authorization, X-Forwarded-Host, X-Drop-Me, Cookie\r\nX-Drop-Me: secret\r\nX-Forwarded-For: 6.6.6.6\r\n' +
        'X-Forwarded-Host: evil.example\r\nForwarded: for=6.6.6.6\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: Basic eDp5\r\n\r\n',
    )
    expect(res.status, res.body).toBe(200)
    const seen = r.up.seen.at(-1)!
    expect(seen.headers.te).toBeUndefined()
    expect(seen.headers.upgrade).toBeUndefined()
    expect(seen.headers['proxy-authorization']).toBeUndefined()
    expect(seen.tokenError).toBeNull()
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${r.srv.port}`)
    expect(seen.headers['x-drop-me']).toBeUndefined()
    expect(seen.headers.forwarded).toBeUndefined()
    const smuggle = await rawRequest(
      r.srv.port,
      `POST /gateway/created HTTP/1.1\r\nHost: 127.0.0.1:${r.srv.port}\r\nCookie: ${cookie}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /gateway/orders HTTP/1.1\r\n\r\n`,
    )
    const before = r.up.seen.length
    // Node's parser refuses Content-Length with Transfer-Encoding (400) before Bastion; nothing reaches the upstream.
    expect(smuggle.status).toBe(400)
    expect(r.up.seen.length).toBe(before)
  })
})

describe('gateway: faults and limits', () => {
  const rigs: Rig[] = []
  afterAll(async () => {
    for (const x of rigs) {
      await x.srv.close()
      await x.up.close()
    }
  })
  async function make(g: { maxBodyBytes?: number; timeoutMs?: number; upstream?: string }) {
    let srv: TestServer | undefined
    const up = await startUpstream({ jwksUrl: () => `${srv!.url}/.well-known/jwks.json`, issuer: 'bastion', audience: 'api' })
    const logs = new LogCollector()
    srv = await startServer({ log: logs.log, gateway: { upstream: g.upstream ?? up.url, audience: 'api', maxBodyBytes: g.maxBodyBytes, timeoutMs: g.timeoutMs } })
    const browser = srv.browser()
    await browser.signIn(await srv.user())
    const x = { srv, up, logs, browser }
    rigs.push(x)
    return x
  }

  it('an upstream that is down answers 502 upstream_unavailable, at once', async () => {
    const x = await make({ upstream: `http://127.0.0.1:${await deadPort()}` })
    const t0 = Date.now()
    const res = await x.browser.get('/gateway/orders')
    expect(res.status).toBe(502)
    expect(res.body.error.code).toBe('upstream_unavailable')
    expect(Date.now() - t0).toBeLessThan(3000)
    const post = await x.browser.post('/gateway/orders', { a: 1 })
    expect(post.status).toBe(502)
  })

  it('an upstream slower than timeoutMs answers 504 upstream_timeout after about timeoutMs; one that stalls mid-body is cut', async () => {
    const x = await make({ timeoutMs: 300 })
    const t0 = Date.now()
    const res = await x.browser.get('/gateway/slow?ms=5000')
    const took = Date.now() - t0
    expect(res.status).toBe(504)
    expect(res.body.error.code).toBe('upstream_timeout')
    expect(took).toBeGreaterThanOrEqual(250)
    expect(took).toBeLessThan(3000)
    const fast = await x.browser.get('/gateway/slow?ms=10')
    expect(fast.status).toBe(200)
    // Headers came, then the body stalled: the connection is cut within the idle timeout, never a hang.
    const t1 = Date.now()
    const stalled = await fetch(`${x.srv.url}/gateway/stall-body`, { headers: { Cookie: x.browser.cookieHeader('/gateway/stall-body') } })
    expect(stalled.status).toBe(200)
    await expect(stalled.text()).rejects.toThrow()
    expect(Date.now() - t1).toBeLessThan(3000)
  })

  it('a body over maxBodyBytes: 413 before the upstream when Content-Length says so; cut off and 413 when streamed without one', async () => {
    const x = await make({ maxBodyBytes: 1000 })
    const before = x.up.seen.length
    const declared = await x.browser.post('/upload-count'.replace(/^/, '/gateway'), 'x'.repeat(1001))
    expect(declared.status).toBe(413)
    expect(declared.body.error.code).toBe('payload_too_large')
    expect(x.up.seen.length).toBe(before)
    const fits = await x.browser.post('/gateway/upload-count', 'x'.repeat(1000))
    expect(fits.status, fits.text).toBe(200)
    expect(fits.body.bodyBytes).toBe(1000)
    // Chunked, no Content-Length: counted as it streams.
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 5000) return c.close()
        sent += 500
        c.enqueue(new Uint8Array(500))
      },
    })
    const headers = { Cookie: x.browser.cookieHeader('/gateway/upload-count'), Origin: x.srv.origin, 'X-CSRF-Token': x.browser.cookie('__Host-csrf')!, 'Content-Type': 'application/octet-stream' }
    const chunked = await fetch(`${x.srv.url}/gateway/upload-count`, { method: 'POST', headers, body, duplex: 'half' } as RequestInit)
    expect(chunked.status).toBe(413)
    // Whatever the upstream may have started to read, it never got a complete request with more than the limit.
    expect(x.up.seen.slice(before + 1).every((s) => s.bodyBytes <= 1000)).toBe(true)
  })
})
