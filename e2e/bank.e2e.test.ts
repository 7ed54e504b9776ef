import { describe, expect, it } from 'vitest'
import { demoAndBrowser,
  ALICE,
  apiBalance,
  newContext,
  openSignIn,
  pageErrors,
  pageFetch,
  shownBalance,
  signIn,
  transferViaSpa,
} from './harness.ts'

const fixture = demoAndBrowser()

describe('the bank SPA in Chromium', () => {
  it('signs in, moves $12.34 to mallory, shows it, and signs out; the cookies carry the contract attributes', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)

    await openSignIn(page, fixture.demo.bankUrl)
    expect(await page.title()).toBe('Bastion Bank · sign in')
    // Before sign-in only the CSRF pre-session cookie exists.
    expect((await context.cookies()).map((c) => c.name)).not.toContain('__Host-access')

    const loginStartedAt = Date.now() / 1000
    await signIn(page, fixture.demo.bankUrl)
    expect(await page.locator('#whoami').textContent()).toBe('alice')
    expect(await page.locator('#greeting-name').textContent()).toBe('alice')
    expect(await shownBalance(page)).toBe(ALICE.balance)
    expect(await page.locator('#balance').textContent()).toBe('$1,000.00')
    expect(await page.evaluate(() => location.hash)).toBe('#/bank')

    // The cookies exactly as Chromium stored them.
    const cookies = await context.cookies()
    const byName = new Map(cookies.map((c) => [c.name, c]))
    const access = byName.get('__Host-access')
    const refresh = byName.get('__Secure-refresh')
    const csrf = byName.get('__Host-csrf')
    expect(access, JSON.stringify(cookies)).toBeDefined()
    expect(refresh, JSON.stringify(cookies)).toBeDefined()
    expect(csrf, JSON.stringify(cookies)).toBeDefined()
    expect(access).toMatchObject({ domain: 'localhost', path: '/', httpOnly: true, secure: true, sameSite: 'Lax' })
    // Max-Age = the access token's lifetime (300 s by default), not a session cookie.
    expect(access!.expires).toBeGreaterThan(loginStartedAt + 300 - 15)
    expect(access!.expires).toBeLessThan(Date.now() / 1000 + 300 + 5)
    expect(refresh).toMatchObject({ domain: 'localhost', path: '/auth', httpOnly: true, secure: true, sameSite: 'Strict' })
    expect(csrf).toMatchObject({ domain: 'localhost', path: '/', httpOnly: false, secure: true, sameSite: 'Lax' })
    // No other cookie carries an auth token.
    expect(cookies.map((c) => c.name).sort()).toEqual(['__Host-access', '__Host-csrf', '__Secure-refresh'])

    // Transfer $12.34 to mallory through the SPA.
    const result = await transferViaSpa(page, 'mallory', '12.34')
    expect(result).toEqual({ status: 'ok', text: 'Sent $12.34 to mallory.' })
    await page.locator(`#balance[data-cents="${ALICE.balance - 1234}"]`).waitFor()
    expect(await page.locator('#balance').textContent()).toBe('$987.66')
    expect(await apiBalance(page)).toBe(ALICE.balance - 1234)

    // The history shows it, newest first.
    const first = page.locator('#transfers [data-testid=transfer]').first()
    await first.waitFor()
    expect(await page.locator('#transfers [data-testid=transfer]').count()).toBe(1)
    expect(await first.getAttribute('class')).toContain('out')
    expect(await first.locator('.item-title').textContent()).toBe('Sent to mallory')
    expect(await first.locator('.amount').getAttribute('data-cents')).toBe('1234')
    expect(await first.locator('.amount').textContent()).toBe('−$12.34')
    expect(await page.locator('#transfers-empty').isHidden()).toBe(true)
    const history = await pageFetch(page, '/api/transfers')
    expect(history.status).toBe(200)
    expect(history.body.transfers).toHaveLength(1)
    expect(history.body.transfers[0]).toMatchObject({ from: 'alice', to: 'mallory', amount: 1234 })
    expect(await page.locator('#banner').isHidden()).toBe(true)

    // Log out: the sign-in view, the session cookies gone, the API closed.
    await page.click('#logout')
    await page.locator('#view-signin').waitFor({ state: 'visible' })
    expect(await page.locator('#view-bank').isHidden()).toBe(true)
    expect(await page.locator('#account-bar').isHidden()).toBe(true)
    expect(await page.locator('#signin-notice').textContent()).toBe('You signed out.')
    expect(await page.evaluate(() => location.hash)).toBe('#/signin')
    expect(await page.title()).toBe('Bastion Bank · sign in')
    const after = (await context.cookies()).map((c) => c.name)
    expect(after).not.toContain('__Host-access')
    expect(after).not.toContain('__Secure-refresh')
    expect((await pageFetch(page, '/api/balance')).status).toBe(401)
    expect((await pageFetch(page, '/auth/session')).status).toBe(401)
    // A reload stays signed out.
    await page.reload()
    await page.locator('#view-signin').waitFor({ state: 'visible' })

    expect(errors).toEqual([])
    await context.close()
  })

  it('shows a page script (XSS) no access or refresh token anywhere it can look', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)
    await signIn(page, fixture.demo.bankUrl)

    const cookies = await context.cookies()
    const access = cookies.find((c) => c.name === '__Host-access')!.value
    const refresh = cookies.find((c) => c.name === '__Secure-refresh')!.value
    const csrf = cookies.find((c) => c.name === '__Host-csrf')!.value
    // Sanity: the values are real, and the access token is the JWT the scan must not find.
    expect(access).toMatch(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/)
    expect(refresh.length).toBeGreaterThanOrEqual(20)

    // Everything an injected script can reach.
    const seen = await page.evaluate(async () => {
      const found: Record<string, string> = {}
      const safe = (value: unknown): string => {
        try {
          if (typeof value === 'string') return value
          if (typeof value === 'function') return String(value)
          return JSON.stringify(value) ?? String(value)
        } catch {
          try { return String(value) } catch { return '' }
        }
      }
      found.cookie = document.cookie
      const dump = (s: Storage) => {
        const out: string[] = []
        for (let i = 0; i < s.length; i++) out.push(`${s.key(i)}=${s.getItem(s.key(i)!)}`)
        return out.join('\n')
      }
      found.localStorage = dump(localStorage)
      found.sessionStorage = dump(sessionStorage)
      const dbs = typeof indexedDB.databases === 'function' ? await indexedDB.databases() : []
      found.indexedDB = JSON.stringify(dbs)
      found.indexedDBCount = String(dbs.length)
      // The one database is the device key's (device-bound sessions): everything in it, read as a script would.
      const contents: string[] = []
      for (const { name } of dbs) {
        const db = await new Promise<IDBDatabase>((ok, fail) => {
          const r = indexedDB.open(name!)
          r.onsuccess = () => ok(r.result)
          r.onerror = () => fail(r.error)
        })
        for (const store of [...db.objectStoreNames]) {
          const all = await new Promise<unknown[]>((ok) => {
            const r = db.transaction(store).objectStore(store).getAll()
            r.onsuccess = () => ok(r.result)
          })
          for (const v of all) {
            const pair = v as CryptoKeyPair
            const exported = await crypto.subtle.exportKey('jwk', pair.privateKey).then(() => 'EXPORTED', (e) => (e as Error).name)
            contents.push(`${name}/${store}: private key extractable=${pair.privateKey.extractable} export=${exported}`)
          }
        }
        db.close()
      }
      found.indexedDBContents = contents.join('\n')
      found.caches = typeof caches === 'object' ? JSON.stringify(await caches.keys().catch(() => [])) : ''
      const names = new Set<string>()
      for (let o: object | null = window; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
        for (const n of Object.getOwnPropertyNames(o)) names.add(n)
      }
      const suspicious = [...names].filter((n) => /token|jwt|access|refresh/i.test(n))
      found.windowNames = suspicious.join(',')
      found.windowValues = suspicious.map((n) => { try { return safe((window as any)[n]) } catch { return '' } }).join('\n')
      for (const path of ['/auth/session', '/auth/csrf']) {
        const res = await fetch(path, { credentials: 'include' })
        found[`${path} status`] = String(res.status)
        found[`${path} headers`] = JSON.stringify([...res.headers])
        found[`${path} body`] = await res.text()
      }
      found.cookieAfterFetches = document.cookie
      found.performance = JSON.stringify(performance.getEntries().map((e) => e.toJSON()))
      found.dom = document.documentElement.outerHTML
      found.location = location.href + ' ' + document.referrer + ' ' + history.length
      return found
    })

    // The scan really looked: it saw the session, the readable CSRF cookie and the page's own requests.
    expect(seen['/auth/session status']).toBe('200')
    expect(seen['/auth/csrf status']).toBe('200')
    expect(JSON.parse(seen['/auth/session body']!)).toMatchObject({ user: { username: 'alice' }, session: { id: expect.any(String) } })
    expect(seen.cookie).toContain('__Host-csrf=')
    expect(seen.cookie).toContain(csrf.slice(0, 16))
    expect(seen.performance).toContain('/api/balance')
    // IndexedDB holds the device key and nothing else; its private half cannot be read out (only used while the page runs).
    expect(seen.indexedDBCount).toBe('1')
    expect(seen.indexedDBContents).toBe('bastion-dpop/keys: private key extractable=false export=InvalidAccessError')

    for (const [where, text] of Object.entries(seen)) {
      expect(text.includes(access), `the access token is visible in ${where}`).toBe(false)
      expect(text.includes(refresh), `the refresh token is visible in ${where}`).toBe(false)
      expect(text, `a JWT is visible in ${where}`).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/)
      expect(text, `an auth cookie name is readable in ${where}`).not.toMatch(/__Host-access=|__Secure-refresh=/)
    }
    // Only the CSRF cookie is readable by scripts.
    expect(seen.cookie!.split(/;\s*/).map((p) => p.split('=')[0])).toEqual(['__Host-csrf'])
    // The page's own "what can JavaScript see" panel agrees.
    expect(await page.locator('#js-verdict').getAttribute('class')).toContain('good')

    // Fetching /auth/csrf while signed in did not break the session: a transfer still goes through.
    const before = await apiBalance(page)
    const result = await transferViaSpa(page, 'mallory', '1')
    expect(result.status, result.text).toBe('ok')
    expect(await apiBalance(page)).toBe(before - 100)

    expect(errors).toEqual([])
    await context.close()
  })

  it('links the footer to the attacker page that is actually running (PORT=0 gives it a free port, not PORT+1)', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    await openSignIn(page, fixture.demo.bankUrl)
    const link = page.locator('#attacker-link')
    await expect.poll(() => link.getAttribute('href'), { timeout: 3_000 }).toBe(fixture.demo.attackerUrl + '/')
    expect(await link.textContent()).toBe(`attacker page (${fixture.demo.attackerUrl})`)
    await context.close()
  })
})
