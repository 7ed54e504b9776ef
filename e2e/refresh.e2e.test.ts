import type { BrowserContext, Page, Request, Response } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { demoAndBrowser, secondTab,
  ALICE,
  apiBalance,
  newContext,
  pageErrors,
  pageFetch,
  signIn,
  sleep,
  transferViaSpa,
  waitForBank,
} from './harness.ts'

// Access tokens live 2 s here, so every test outlives one.
const ACCESS_TTL = 2

const fixture = demoAndBrowser({ BASTION_ACCESS_TTL: String(ACCESS_TTL) })

const isRefresh = (r: Request) => r.method() === 'POST' && new URL(r.url()).pathname === '/auth/refresh'

/** Every answer to POST /auth/refresh seen by any page of the context. */
function refreshAnswers(context: BrowserContext): number[] {
  const statuses: number[] = []
  context.on('response', (res: Response) => {
    if (isRefresh(res.request())) statuses.push(res.status())
  })
  return statuses
}

/** Gives a page a second client from the very bundle the SPA uses (same module, same tab channel, same lock). */
async function installClient(page: Page): Promise<void> {
  // A string, so vitest's transform does not rewrite the page-side dynamic import.
  await page.evaluate(`(async () => {
    const { createAuthClient } = await import('/assets/bastion-client.js')
    window.__e2eAuth = createAuthClient({ baseUrl: '' })
  })()`)
}

/** At wall-clock time `at` (ms), `n` parallel auth.fetch GETs of /api/balance from the page; their statuses. */
function burst(page: Page, at: number, n: number): Promise<number[]> {
  return page.evaluate(async ({ at, n }) => {
    const auth = (window as any).__e2eAuth
    while (Date.now() < at) await new Promise((r) => setTimeout(r, Math.min(5, at - Date.now())))
    const answers = await Promise.all(Array.from({ length: n }, () => auth.fetch('/api/balance')))
    return answers.map((r: globalThis.Response) => r.status)
  }, { at, n })
}

describe(`transparent refresh (BASTION_ACCESS_TTL=${ACCESS_TTL})`, () => {
  it('refreshes once, unseen, when a transfer finds the access token expired', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)
    await signIn(page, fixture.demo.bankUrl)
    const start = await apiBalance(page)

    const refreshes: string[] = []
    const transfers: string[] = []
    page.on('request', (r) => {
      if (isRefresh(r)) refreshes.push(r.url())
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/transfer') transfers.push(r.url())
    })
    const answers = refreshAnswers(context)
    const transferAnswers: Array<{ status: number; code?: string }> = []
    page.on('response', async (res) => {
      if (res.request().method() === 'POST' && new URL(res.url()).pathname === '/api/transfer') {
        const body = await res.json().catch(() => null)
        transferAnswers.push({ status: res.status(), code: body?.error?.code })
      }
    })

    await sleep((ACCESS_TTL + 1) * 1000)
    const result = await transferViaSpa(page, 'mallory', '7.50')

    expect(result).toEqual({ status: 'ok', text: 'Sent $7.50 to mallory.' })
    expect(await page.locator('#banner').isHidden()).toBe(true)
    expect(await page.locator('#view-bank').isVisible()).toBe(true)
    await page.locator(`#balance[data-cents="${start - 750}"]`).waitFor()
    // Exactly one refresh, answered 200; the first attempt was refused as expired and replayed once.
    expect(refreshes).toHaveLength(1)
    expect(answers).toEqual([200])
    expect(transferAnswers).toEqual([{ status: 401, code: 'token_expired' }, { status: 201, code: undefined }])
    expect(transfers).toHaveLength(2)
    // The money moved once, not twice.
    expect(await apiBalance(page)).toBe(start - 750)
    const history = await pageFetch(page, '/api/transfers')
    expect(history.body.transfers.filter((t: { amount: number }) => t.amount === 750)).toHaveLength(1)

    expect(errors).toEqual([])
    await context.close()
  })

  it('two tabs hitting an expired token at the same moment rotate the refresh token exactly once', async () => {
    const context = await newContext(fixture.browser)
    const answers = refreshAnswers(context)
    const a = await context.newPage()
    const errors = pageErrors(a)
    await signIn(a, fixture.demo.bankUrl)
    const b = await secondTab(context, fixture.demo.bankUrl, errors)
    await Promise.all([installClient(a), installClient(b)])
    expect(answers).toEqual([])
    const expiredIn = new Map<Page, number>([[a, 0], [b, 0]])
    for (const page of [a, b]) {
      page.on('response', (res) => {
        if (new URL(res.url()).pathname === '/api/balance' && res.status() === 401) expiredIn.set(page, expiredIn.get(page)! + 1)
      })
    }

    await sleep((ACCESS_TTL + 1) * 1000)

    // Both tabs, at the same instant, each with 5 requests in flight, all on an expired access token.
    const at = Date.now() + 300
    const [first, second] = await Promise.all([burst(a, at, 5), burst(b, at, 5)])
    expect(first).toEqual([200, 200, 200, 200, 200])
    expect(second).toEqual([200, 200, 200, 200, 200])
    // Both tabs really met the expired token (and then replayed).
    expect(expiredIn.get(a)).toBeGreaterThan(0)
    expect(expiredIn.get(b)).toBeGreaterThan(0)

    // Right after: 10 more in parallel across both tabs, on the fresh token.
    const again = Date.now() + 100
    const [third, fourth] = await Promise.all([burst(a, again, 5), burst(b, again, 5)])
    expect([...third, ...fourth]).toEqual(Array(10).fill(200))

    // One rotation, answered 200; no second tab presenting an already-used refresh token.
    expect(answers).toEqual([200])

    // Still signed in everywhere, the session alive (no reuse detection fired).
    for (const page of [a, b]) {
      expect(await page.locator('#view-bank').isVisible()).toBe(true)
      expect(await page.locator('#banner').isHidden()).toBe(true)
      const me = await pageFetch(page, '/api/me')
      expect(me.status).toBe(200)
      expect(me.body.user.username).toBe(ALICE.username)
    }
    await b.reload()
    await waitForBank(b)
    expect(errors).toEqual([])
    await context.close()
  })
})
