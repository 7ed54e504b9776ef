// The gateway in Chromium: the demo started as `npm start` with BASTION_GATEWAY_UPSTREAM pointing at a real
// upstream on another port that trusts nothing but the demo's JWKS and counts every request it sees.
// The bank is opened as http://app.localhost:PORT (Chromium resolves *.localhost to loopback), so that
// http://evil.app.localhost is a same-site sibling and http://127.0.0.1 another site.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstream, type Upstream } from '../packages/server/src/testing/upstream.ts'
import { ALICE, demoAndBrowser, newContext, pageErrors, pageFetch, sleep } from './harness.ts'

let up: Upstream
let demoPort = 0
/** Pages of the other sites: each posts to the bank's gateway with the browser's cookies, by fetch and by a form. */
let pages: Server
let pagesPort = 0

const attackPage = (target: string) => `<!doctype html><title>other site</title>
<form id="f" method="POST" action="${target}" enctype="text/plain"><input name="a" value="1"></form>
<script>
  fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: 'x=1' })
    .finally(() => { document.title = 'fetched'; document.getElementById('f').submit() })
</script>`

beforeAll(async () => {
  up = await startUpstream({ jwksUrl: () => `http://localhost:${demoPort}/.well-known/jwks.json`, issuer: 'bastion', audience: 'orders-api' })
  pages = createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://x').searchParams.get('target') ?? ''
    res.writeHead(200, { 'content-type': 'text/html' }).end(attackPage(target))
  })
  await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r))
  pagesPort = (pages.address() as AddressInfo).port
})
afterAll(async () => {
  pages?.close()
  await up?.close()
})

const fixture = demoAndBrowser(() => ({
  BASTION_GATEWAY_UPSTREAM: up.url,
  BASTION_GATEWAY_AUDIENCE: 'orders-api',
  BASTION_GATEWAY_TIMEOUT_MS: '1500',
  BASTION_GATEWAY_MAX_BODY_BYTES: '100000',
}))

describe('the gateway in a real browser', () => {
  let bank: string
  beforeAll(() => {
    demoPort = Number(new URL(fixture.demo.bankUrl).port)
    bank = `http://app.localhost:${demoPort}`
  })

  async function signedIn() {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)
    await page.goto(bank + '/')
    const csrf = await pageFetch(page, '/auth/csrf')
    expect(csrf.status).toBe(200)
    const login = await page.evaluate(async ({ user, token }) => {
      const res = await fetch('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': token }, body: JSON.stringify(user) })
      return res.status
    }, { user: { username: ALICE.username, password: ALICE.password }, token: csrf.body.csrfToken as string })
    expect(login).toBe(200)
    return { context, page, errors }
  }

  it('signed-in GET and POST reach the upstream with a JWKS-verified bearer and without the browser\'s cookies', async () => {
    const { context, page, errors } = await signedIn()
    const before = up.seen.length
    const get = await pageFetch(page, '/gateway/orders?page=1')
    expect(get.status, JSON.stringify(get.body)).toBe(200)
    expect(get.body).toMatchObject({ method: 'GET', url: '/orders?page=1', aud: 'orders-api' })
    const post = await pageFetch(page, '/gateway/created', { method: 'POST', body: { item: 'book' }, csrf: true })
    expect(post.status, JSON.stringify(post.body)).toBe(201)
    expect(post.body.body).toBe(JSON.stringify({ item: 'book' }))
    const seen = up.seen.slice(before)
    expect(seen).toHaveLength(2)
    for (const s of seen) {
      expect(s.tokenError).toBeNull()
      expect(s.claims).toMatchObject({ iss: 'bastion', aud: 'orders-api', preferred_username: ALICE.username, client_id: 'bastion-gateway' })
      expect(s.claims!.exp! - s.claims!.iat!).toBeLessThanOrEqual(60)
      expect(s.headers.cookie).toBeUndefined()
      expect(s.headers['x-csrf-token']).toBeUndefined()
    }
    // Without the CSRF header the page's own POST is refused by Bastion, before the upstream.
    const n = up.seen.length
    expect((await pageFetch(page, '/gateway/created', { method: 'POST', body: { item: 'x' } })).status).toBe(403)
    expect(up.seen.length).toBe(n)
    expect(errors).toEqual([])
    await context.close()
  })

  it('a cross-site and a same-site-sibling POST (fetch and form) are refused before the upstream sees them', async () => {
    const { context } = await signedIn()
    const before = up.seen.length
    const logBefore = fixture.demo.output().length
    for (const [origin, site] of [[`http://127.0.0.1:${pagesPort}`, 'cross-site'], [`http://evil.app.localhost:${pagesPort}`, 'same-site']] as const) {
      const attacker = await context.newPage()
      const target = `${bank}/gateway/created`
      await attacker.goto(`${origin}/?target=${encodeURIComponent(target)}`)
      // The form navigates the tab to the gateway's answer.
      await attacker.waitForURL(target, { timeout: 10_000 })
      const shown = await attacker.locator('body').textContent()
      // Refused by Fetch Metadata, and the message names what Chromium said the request was.
      expect(shown, origin).toContain('forbidden_origin')
      expect(shown, origin).toContain(`Sec-Fetch-Site: ${site}`)
      await attacker.close()
    }
    expect(up.seen.length, 'the upstream saw none of the four forged requests').toBe(before)
    // The sibling's requests carried the session's cookies (SameSite=Lax lets same-site through): Fetch Metadata stopped them.
    const refusals = fixture.demo.output().slice(logBefore).match(/"event":"request_refused"[^\n]*"path":"\/gateway\/created"/g) ?? []
    expect(refusals.length).toBeGreaterThanOrEqual(2)
    await context.close()
  })

  it('upstream Set-Cookie for __Host-access is dropped: the browser keeps its own session cookie', async () => {
    const { context, page } = await signedIn()
    const mine = (await context.cookies(bank)).find((c) => c.name === '__Host-access')!.value
    const res = await pageFetch(page, '/gateway/set-cookie')
    expect(res.status).toBe(200)
    const jar = await context.cookies(bank)
    expect(jar.find((c) => c.name === '__Host-access')!.value).toBe(mine)
    expect(jar.filter((c) => c.value.startsWith('planted'))).toEqual([])
    expect(jar.find((c) => c.name === 'upstream-pref')?.value).toBe('dark')
    expect((await pageFetch(page, '/api/me')).status).toBe(200)
    await context.close()
  })

  it('a body over the limit answers 413 before the upstream; a slow upstream 504; a stopped one 502; never a hang', async () => {
    const { context, page } = await signedIn()
    const before = up.seen.length
    const big = await pageFetch(page, '/gateway/created', { method: 'POST', body: { blob: 'x'.repeat(150_000) }, csrf: true })
    expect(big.status).toBe(413)
    expect(big.body.error.code).toBe('payload_too_large')
    expect(up.seen.length).toBe(before)
    const t0 = Date.now()
    const slow = await pageFetch(page, '/gateway/slow?ms=10000')
    expect(slow.status).toBe(504)
    expect(slow.body.error.code).toBe('upstream_timeout')
    expect(Date.now() - t0).toBeLessThan(8000)
    await up.close()
    await sleep(50)
    const down = await pageFetch(page, '/gateway/orders')
    expect(down.status).toBe(502)
    expect(down.body.error.code).toBe('upstream_unavailable')
    await context.close()
  })
})
