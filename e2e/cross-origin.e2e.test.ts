// An SPA served from another origin (a dev server on another port) calling the
// API with credentials: the contract's allow-list case. The page cannot read
// the API's CSRF cookie, so the client takes the token from response bodies.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, ROOT, demoAndBrowser, newContext, pageErrors } from './harness.ts'

// The page's module puts the client where the test's scripts can reach it.
const PAGE = `<!doctype html><title>dev server</title><p>SPA on another port</p>
<script type="module">import { createAuthClient } from '/bastion-client.js'; window.createAuthClient = createAuthClient</script>`

type Client = { createAuthClient: (options: { baseUrl: string }) => any }

/** A dev server: one page, and the client bundle, on its own port. */
async function devServer(): Promise<{ server: Server; origin: string }> {
  const bundle = readFileSync(join(ROOT, 'packages/client/dist/index.js'))
  const server = createServer((req, res) => {
    if (req.url === '/bastion-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
      return
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
  })
  await new Promise<void>((r) => server.listen(0, 'localhost', r))
  return { server, origin: `http://localhost:${(server.address() as AddressInfo).port}` }
}

let dev: { server: Server; origin: string }
beforeAll(async () => {
  dev = await devServer()
})
afterAll(() => dev?.server.close())
const fixture = demoAndBrowser(() => ({ BASTION_ALLOWED_ORIGINS: dev.origin }))

describe('an SPA on another origin in the allow-list', () => {
  it('signs in, reads and moves money through the client with baseUrl; a request without the client is refused', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)
    await page.goto(dev.origin + '/')
    await page.waitForFunction(() => 'createAuthClient' in window)
    const result = await page.evaluate(
      async ({ api, user }) => {
        const auth = (window as unknown as Client).createAuthClient({ baseUrl: api })
        await auth.login(user)
        const me = await (await auth.fetch('/api/me')).json()
        const before = (await (await auth.fetch('/api/balance')).json()).balance
        // Exactly as the contract shows it: the client sends a JSON string as application/json.
        const transfer = await auth.fetch('/api/transfer', { method: 'POST', body: JSON.stringify({ to: 'mallory', amount: 321 }) })
        const after = (await (await auth.fetch('/api/balance')).json()).balance
        // Without the client: the browser sends the cookies, but no CSRF header can be guessed.
        const forged = await fetch(api + '/api/transfer', {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to: 'mallory', amount: 1 }),
        })
        return { me, before, transfer: transfer.status, after, forged: forged.status, cookies: document.cookie }
      },
      { api: fixture.demo.bankUrl, user: { username: ALICE.username, password: ALICE.password } },
    )
    expect(result.me.user.username).toBe('alice')
    expect(result.transfer).toBe(201)
    expect(result.after).toBe(result.before - 321)
    expect(result.forged).toBe(403)
    // Cookies are scoped by host, not port: this page shares localhost's jar and sees the CSRF
    // cookie (readable by design), but never the HttpOnly access and refresh cookies.
    expect(result.cookies).not.toMatch(/__Host-access|__Secure-refresh|eyJ/)
    expect(errors).toEqual([])
    await context.close()
  })

  it('an origin not in the list cannot even sign in: its preflight is refused', async () => {
    const other = await devServer() // same host, another port: same site, but not allowed
    try {
      const context = await newContext(fixture.browser)
      const page = await context.newPage()
      await page.goto(other.origin + '/')
      await page.waitForFunction(() => 'createAuthClient' in window)
      const outcome = await page.evaluate(async (api) => {
        const auth = (window as unknown as Client).createAuthClient({ baseUrl: api })
        try {
          await auth.login({ username: 'alice', password: 'alice-password-1' })
          return 'signed in'
        } catch (e) {
          return `refused: ${(e as Error).name}`
        }
      }, fixture.demo.bankUrl)
      expect(outcome).toMatch(/^refused/)
      await context.close()
    } finally {
      other.server.close()
    }
  })
})
