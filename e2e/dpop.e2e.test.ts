// Device-bound sessions in Chromium: the SPA's client binds each session to a
// non-extractable key in IndexedDB; a refresh cookie copied into another
// browser profile (malware, a synced profile, a leaked HAR) is worthless there,
// even inside the refresh grace that keeps racing tabs signed in.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, ROOT, demoAndBrowser, newContext, pageErrors, pageFetch, signIn, sleep } from './harness.ts'

const ACCESS_TTL = 2
const GRACE = 4

const PAGE = `<!doctype html><title>dev server</title>
<script type="module">import { createAuthClient } from '/bastion-client.js'; window.createAuthClient = createAuthClient</script>`

/** A dev server on another port (the cross-origin SPA), serving the built client. */
async function devServer(): Promise<{ server: Server; origin: string }> {
  const bundle = readFileSync(join(ROOT, 'packages/client/dist/index.js'))
  const server = createServer((req, res) => {
    if (req.url === '/bastion-client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    else res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
  })
  await new Promise<void>((r) => server.listen(0, 'localhost', r))
  return { server, origin: `http://localhost:${(server.address() as AddressInfo).port}` }
}

let dev: { server: Server; origin: string }
beforeAll(async () => {
  dev = await devServer()
})
afterAll(() => dev?.server.close())
const fixture = demoAndBrowser(() => ({
  BASTION_ACCESS_TTL: String(ACCESS_TTL),
  BASTION_REFRESH_GRACE: String(GRACE),
  BASTION_ALLOWED_ORIGINS: dev.origin,
}))

const isRefresh = (url: string, method: string) => method === 'POST' && new URL(url).pathname === '/auth/refresh'

/** A client from the very bundle the SPA uses, as window.__auth. */
async function installClient(page: Page): Promise<void> {
  await page.evaluate(`(async () => {
    const { createAuthClient } = await import('/assets/bastion-client.js')
    window.__auth = createAuthClient({ baseUrl: '' })
  })()`)
}

/** POST /auth/refresh from the page, with the CSRF header and, when given, a DPoP proof. */
function rawRefresh(page: Page, proof?: string): Promise<{ status: number; code?: string; nonce: string | null }> {
  return page.evaluate(async (proof) => {
    const m = /(?:^|;\s*)__Host-csrf=([^;]*)/.exec(document.cookie)
    const headers: Record<string, string> = { 'X-CSRF-Token': m ? decodeURIComponent(m[1]!) : '' }
    if (proof) headers.DPoP = proof
    const res = await fetch('/auth/refresh', { method: 'POST', credentials: 'include', headers })
    const body = await res.json().catch(() => null)
    return { status: res.status, code: body?.error?.code, nonce: res.headers.get('dpop-nonce') }
  }, proof)
}

/** A proof signed in the page by the profile's own device key (what script in the page can do, and no more). */
function proofInPage(page: Page, claims: { htm?: string; path?: string; iatOffset?: number } = {}): Promise<string> {
  return page.evaluate(async ({ htm, path, iatOffset }) => {
    const db = await new Promise<IDBDatabase>((ok, fail) => {
      const r = indexedDB.open('bastion-dpop', 1)
      r.onsuccess = () => ok(r.result)
      r.onerror = () => fail(r.error)
    })
    const pair = await new Promise<CryptoKeyPair>((ok, fail) => {
      const r = db.transaction('keys').objectStore('keys').get('device')
      r.onsuccess = () => ok(r.result)
      r.onerror = () => fail(r.error)
    })
    const b64 = (b: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
    const j = (o: unknown) => b64(new TextEncoder().encode(JSON.stringify(o)))
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
    const input = `${j({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${j({ htm, htu: location.origin + path, iat: Math.floor(Date.now() / 1000) + iatOffset, jti: crypto.randomUUID() })}`
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(input))
    return `${input}.${b64(sig)}`
  }, { htm: claims.htm ?? 'POST', path: claims.path ?? '/auth/refresh', iatOffset: claims.iatOffset ?? 0 })
}

/** A second browser profile holding a copy of `victim`'s cookies, on a bank page that runs no client. */
async function thiefWith(cookies: Awaited<ReturnType<BrowserContext['cookies']>>): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(fixture.browser)
  await context.addCookies(cookies)
  const page = await context.newPage()
  await page.goto(fixture.demo.bankUrl + '/api/public')
  return { context, page }
}

/** Signs in through the SPA in a fresh profile; answers the page and every DPoP header sent to /auth/*. */
async function victim(): Promise<{ context: BrowserContext; page: Page; proofs: Record<string, number> }> {
  const context = await newContext(fixture.browser)
  const page = await context.newPage()
  const proofs: Record<string, number> = {}
  context.on('request', (r) => {
    const path = new URL(r.url()).pathname
    if (path.startsWith('/auth/') && r.method() === 'POST' && r.headers()['dpop']) proofs[path] = (proofs[path] ?? 0) + 1
  })
  await signIn(page, fixture.demo.bankUrl)
  return { context, page, proofs }
}

/** Makes the victim's own client refresh (its access token has expired): a refresh with a proof. */
async function victimRefreshes(page: Page): Promise<void> {
  await sleep((ACCESS_TTL + 0.5) * 1000)
  await installClient(page)
  const status = await page.evaluate(async () => (await (window as any).__auth.fetch('/api/balance')).status)
  expect(status).toBe(200)
}

const eventsIn = (output: string, event: string) =>
  output.split('\n').filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l) as Record<string, unknown>)

describe('device-bound sessions in Chromium', () => {
  it('the SPA binds its session: a proof on login, the key non-extractable in IndexedDB', async () => {
    const { context, page, proofs } = await victim()
    expect(proofs['/auth/login']).toBe(1)
    const key = await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((ok) => {
        const r = indexedDB.open('bastion-dpop', 1)
        r.onsuccess = () => ok(r.result)
      })
      const pair = await new Promise<CryptoKeyPair>((ok) => {
        const r = db.transaction('keys').objectStore('keys').get('device')
        r.onsuccess = () => ok(r.result)
      })
      const exported = await crypto.subtle.exportKey('jwk', pair.privateKey).then(() => 'exported', (e) => (e as Error).name)
      return { algorithm: (pair.privateKey.algorithm as EcKeyAlgorithm).namedCurve, extractable: pair.privateKey.extractable, exported }
    })
    expect(key).toEqual({ algorithm: 'P-256', extractable: false, exported: 'InvalidAccessError' })
    // The bank shows its customer what the client says.
    await page.locator('#device-binding', { hasText: 'bound to this browser' }).waitFor()
    await context.close()
  })

  it('a refresh cookie replayed from another profile inside the grace: refused, the victim signed out, the event logged', async () => {
    const { context, page, proofs } = await victim()
    const stolen = await context.cookies() // before the victim's refresh: the token the grace would still honour
    await victimRefreshes(page)
    expect(proofs['/auth/refresh']).toBe(1)
    const thief = await thiefWith(stolen)
    const before = eventsIn(fixture.demo.output(), 'refresh_without_proof').length
    const res = await rawRefresh(thief.page) // within GRACE s of the victim's rotation
    expect(res).toMatchObject({ status: 401, code: 'unauthenticated' })
    expect((await pageFetch(thief.page, '/api/balance')).status).toBe(401)
    // The victim's session is revoked: its fresh access token stops working at once.
    expect((await pageFetch(page, '/api/balance')).status).toBe(401)
    await sleep(100)
    const events = eventsIn(fixture.demo.output(), 'refresh_without_proof').slice(before)
    expect(events).toEqual([expect.objectContaining({ level: 'warn', reason: 'missing' })])
    await Promise.all([thief.context.close(), context.close()])
  })

  it('after the grace: the old cookie, or the current one in a profile with its own key (the SPA running), is refused and revokes', async () => {
    // The old token, replayed after the grace.
    const a = await victim()
    const old = await a.context.cookies()
    await victimRefreshes(a.page)
    await sleep(GRACE * 1000 + 500)
    const t1 = await thiefWith(old)
    expect((await rawRefresh(t1.page)).status).toBe(401)
    expect((await pageFetch(a.page, '/api/balance')).status).toBe(401)
    // The current token, taken after the victim's last refresh, used by the thief's own SPA (its own device key).
    const b = await victim()
    await sleep((ACCESS_TTL + 0.5) * 1000)
    const current = await b.context.cookies()
    const t2 = await thiefWith(current)
    const before = eventsIn(fixture.demo.output(), 'refresh_without_proof').length
    await installClient(t2.page)
    const thiefStatus = await t2.page.evaluate(async () => (await (window as any).__auth.fetch('/api/balance')).status)
    expect(thiefStatus).toBe(401)
    expect(eventsIn(fixture.demo.output(), 'refresh_without_proof').slice(before)).toEqual([expect.objectContaining({ reason: 'wrong_key' })])
    expect((await rawRefresh(b.page, await proofInPage(b.page))).status).toBe(401) // the victim's session is gone too
    await Promise.all([t1.context.close(), t2.context.close(), a.context.close(), b.context.close()])
  })

  it('four tabs racing a refresh after expiry: all stay signed in, one refresh on the wire, with a proof', async () => {
    const { context, page, proofs } = await victim()
    const errors = pageErrors(page)
    const tabs = [page]
    for (let i = 0; i < 3; i++) {
      const p = await context.newPage()
      pageErrors(p, errors)
      await p.goto(fixture.demo.bankUrl + '/api/public')
      tabs.push(p)
    }
    for (const t of tabs) await installClient(t)
    const refreshes: number[] = []
    context.on('response', (r) => {
      if (isRefresh(r.url(), r.request().method())) refreshes.push(r.status())
    })
    await sleep((ACCESS_TTL + 0.5) * 1000)
    const at = Date.now() + 300
    const statuses = await Promise.all(
      tabs.map((t) =>
        t.evaluate(async (at) => {
          while (Date.now() < at) await new Promise((r) => setTimeout(r, 2))
          return (await (window as any).__auth.fetch('/api/balance')).status as number
        }, at),
      ),
    )
    expect(statuses).toEqual([200, 200, 200, 200])
    expect(refreshes).toEqual([200])
    expect(proofs['/auth/refresh']).toBe(1)
    expect(errors).toEqual([])
    await context.close()
  })

  it('a proof replayed, a proof for another URL or method: refused; a right-key proof with a stale iat: refused with a DPoP-Nonce', async () => {
    for (const bad of [
      async (page: Page) => {
        const p = await proofInPage(page)
        expect((await rawRefresh(page, p)).status).toBe(200)
        return p
      },
      (page: Page) => proofInPage(page, { path: '/auth/login' }),
      (page: Page) => proofInPage(page, { htm: 'GET' }),
    ]) {
      const { context, page } = await victim()
      const res = await rawRefresh(page, await bad(page))
      expect(res).toMatchObject({ status: 401, code: 'unauthenticated' })
      expect((await pageFetch(page, '/api/balance')).status).toBe(401)
      await context.close()
    }
    const { context, page } = await victim()
    const stale = await rawRefresh(page, await proofInPage(page, { iatOffset: -300 }))
    expect(stale.status).toBe(401)
    expect(stale.nonce).toBeTruthy()
    // A skewed clock is not a theft: the session lives, and the client's own refresh goes through.
    expect((await rawRefresh(page, await proofInPage(page))).status).toBe(200)
    await context.close()
  })

  it('IndexedDB blocked (private window, partitioned storage): still signs in, unbound, and refreshes', async () => {
    const context = await newContext(fixture.browser)
    await context.addInitScript(() => {
      Object.defineProperty(window, 'indexedDB', { get: () => { throw new DOMException('The user denied permission to access the database.', 'SecurityError') } })
    })
    const page = await context.newPage()
    const errors = pageErrors(page)
    const sent: string[] = []
    page.on('request', (r) => {
      if (r.headers()['dpop']) sent.push(new URL(r.url()).pathname)
    })
    await signIn(page, fixture.demo.bankUrl)
    await page.locator('#device-binding', { hasText: 'blocks IndexedDB' }).waitFor()
    await installClient(page)
    const state = await page.evaluate(async (user) => {
      const auth = (window as any).__auth
      await auth.login(user)
      await new Promise((r) => setTimeout(r, 2500))
      const status = (await auth.fetch('/api/balance')).status
      return { status, binding: auth.getState().deviceBinding }
    }, { username: ALICE.username, password: ALICE.password })
    expect(state).toEqual({ status: 200, binding: 'unsupported' })
    expect(sent).toEqual([])
    expect(errors).toEqual([])
    await context.close()
  })

  it('cross-origin SPA: DPoP passes the preflight, and a device clock 10 minutes off recovers through the exposed DPoP-Nonce', async () => {
    const context = await newContext(fixture.browser)
    await context.addInitScript(() => {
      const real = Date.now
      Date.now = () => real() - 600_000
    })
    const page = await context.newPage()
    const errors = pageErrors(page)
    const refreshProofs: string[] = []
    context.on('request', (r) => {
      if (r.method() === 'POST' && r.headers()['dpop']) refreshProofs.push(new URL(r.url()).pathname)
    })
    await page.goto(dev.origin + '/')
    await page.waitForFunction(() => 'createAuthClient' in window)
    const result = await page.evaluate(
      async ({ api, user }) => {
        const auth = (window as any).createAuthClient({ baseUrl: api })
        await auth.login(user)
        const bindingAfterLogin = auth.getState().deviceBinding
        await new Promise((r) => setTimeout(r, 2500))
        const balance = (await auth.fetch('/api/balance')).status
        return { bindingAfterLogin, balance }
      },
      { api: fixture.demo.bankUrl, user: { username: ALICE.username, password: ALICE.password } },
    )
    expect(result).toEqual({ bindingAfterLogin: 'bound', balance: 200 })
    // Playwright does not report CORS preflights; that Chromium sent the DPoP header cross-origin at all, and got
    // the answers, is the preflight's doing. Its answer, asked directly:
    const pre = await fetch(fixture.demo.bankUrl + '/auth/refresh', {
      method: 'OPTIONS',
      headers: { Origin: dev.origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'dpop, x-csrf-token' },
    })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/\bDPoP\b/)
    // Login and refresh each: one stale proof answered with a nonce, then one carrying it.
    expect(refreshProofs.filter((p) => p === '/auth/login')).toHaveLength(2)
    expect(refreshProofs.filter((p) => p === '/auth/refresh')).toHaveLength(2)
    expect(errors).toEqual([])
    await context.close()
  })
})
