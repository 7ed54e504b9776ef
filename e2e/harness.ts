/**
 * The browser end-to-end harness: starts the demo exactly as `npm start` does
 * (`node --import tsx apps/demo/src/main.ts` from the repository root, after
 * the client build that e2e/global-setup.ts ran once), drives Chromium through
 * playwright-core, and offers the few helpers every suite shares.
 */
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core'
import { afterAll, beforeAll, expect } from 'vitest'
import { startDemo, type Demo } from '../apps/demo/src/testing/start-demo.ts'

export { ARTIFACTS, ROOT } from './paths.ts'
export { startDemo, type Demo }

export const ALICE = { username: 'alice', password: 'alice-password-1', balance: 100_000 } as const
export const MALLORY = { username: 'mallory', password: 'mallory-password-1', balance: 0 } as const

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.BASTION_CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS })
}

/** A fresh browser profile ("device"), desktop-sized unless told otherwise. */
export function newContext(browser: Browser, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: 'UTC', ...options })
}

/** Uncaught exceptions of a page (an SPA bug shows here even when the UI looks fine). */
export function pageErrors(page: Page, errors: Error[] = []): Error[] {
  page.on('pageerror', (e) => errors.push(e))
  return errors
}

/** The bank's SPA on the sign-in view. */
export async function openSignIn(page: Page, bankUrl: string): Promise<void> {
  await page.goto(bankUrl + '/')
  await page.locator('#view-signin').waitFor({ state: 'visible' })
}

/** Waits until the bank view shows and every panel has loaded (no request of loadAll left in flight). */
export async function waitForBank(page: Page, username: string = ALICE.username): Promise<void> {
  await page.locator('#view-bank').waitFor({ state: 'visible' })
  await page.locator('#whoami', { hasText: username }).waitFor()
  await page.locator('#balance:not([data-cents=""])').waitFor()
  await page.locator('#sessions [data-testid=session]').first().waitFor()
  await page.waitForFunction(() => {
    const id = document.getElementById('server-session-id')!.textContent
    const historyLoaded = !document.getElementById('transfers-empty')!.hidden || document.querySelector('#transfers li') !== null
    return id !== '—' && id !== '' && historyLoaded
  })
}

/** Signs in through the SPA's form and waits for the loaded bank view. */
export async function signIn(page: Page, bankUrl: string, user: { username: string; password: string } = ALICE): Promise<void> {
  await openSignIn(page, bankUrl)
  await page.fill('#username', user.username)
  await page.fill('#password', user.password)
  await page.click('#login-submit')
  await waitForBank(page, user.username)
}

/** Sends money through the SPA's form and waits for its result line. */
export async function transferViaSpa(page: Page, to: string, dollars: string): Promise<{ status: string; text: string }> {
  const result = page.locator('#transfer-result')
  await page.evaluate(() => {
    const r = document.getElementById('transfer-result')!
    r.hidden = true
    delete r.dataset.status
  })
  await page.fill('#transfer-to', to)
  await page.fill('#transfer-amount', dollars)
  await page.click('#transfer-submit')
  await page.locator('#transfer-result[data-status]:not([hidden])').waitFor()
  // The balance and history reload after the answer; wait for the button to come back.
  await page.locator('#transfer-submit:enabled').waitFor()
  return { status: (await result.getAttribute('data-status')) ?? '', text: (await result.textContent()) ?? '' }
}

export interface JsonAnswer<T = any> {
  status: number
  body: T
}

/** A plain same-origin fetch from the page (cookies ride along; no client, no refresh). */
export function pageFetch<T = any>(page: Page, path: string, init: { method?: string; body?: unknown; csrf?: boolean } = {}): Promise<JsonAnswer<T>> {
  return page.evaluate(async ({ path, init }) => {
    const headers: Record<string, string> = {}
    if (init.body !== undefined) headers['Content-Type'] = 'application/json'
    if (init.csrf) {
      const m = /(?:^|;\s*)__Host-csrf=([^;]*)/.exec(document.cookie)
      if (m) headers['X-CSRF-Token'] = decodeURIComponent(m[1]!)
    }
    const res = await fetch(path, {
      method: init.method ?? 'GET',
      headers,
      credentials: 'include',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    })
    const text = await res.text()
    let body: unknown = null
    try { body = text ? JSON.parse(text) : null } catch { body = text }
    return { status: res.status, body: body as any }
  }, { path, init })
}

/** The signed-in user's balance in cents, as the bank's API reports it. */
export async function apiBalance(page: Page): Promise<number> {
  const res = await pageFetch<{ balance: number }>(page, '/api/balance')
  if (res.status !== 200) throw new Error(`/api/balance answered ${res.status}: ${JSON.stringify(res.body)}`)
  return res.body.balance
}

/** The balance the SPA shows, in cents. */
export async function shownBalance(page: Page): Promise<number> {
  return Number(await page.locator('#balance').getAttribute('data-cents'))
}

/** Clicks "Run all" and waits until no forgery is idle or running and the buttons are back. */
export async function runAllAttacks(attacker: Page): Promise<Array<{ name: string; outcome: string; text: string }>> {
  await attacker.locator('#alice-balance:not([data-cents=""])').waitFor()
  await attacker.click('#run-all')
  await attacker.waitForFunction(
    () => {
      const results = [...document.querySelectorAll<HTMLElement>('[data-result]')]
      return results.length > 0 && results.every((r) => !['idle', 'running'].includes(r.dataset.outcome ?? '')) &&
        !(document.getElementById('run-all') as HTMLButtonElement).disabled
    },
    undefined,
    { timeout: 40_000, polling: 100 },
  )
  return attacker.$$eval('[data-result]', (els) =>
    els.map((el) => ({ name: el.getAttribute('data-result') ?? '', outcome: el.getAttribute('data-outcome') ?? '', text: el.textContent?.replace(/\s+/g, ' ').trim() ?? '' })))
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * One demo and one Chromium for a test file: started before its tests and
 * stopped after them, the demo asserted to exit cleanly on SIGTERM. `env` may
 * be a function, read when the demo starts (after earlier `beforeAll`s).
 */
export function demoAndBrowser(env: Record<string, string> | (() => Record<string, string>) = {}): { demo: Demo; browser: Browser } {
  const fixture = {} as { demo: Demo; browser: Browser }
  beforeAll(async () => {
    fixture.demo = await startDemo(typeof env === 'function' ? env() : env)
    fixture.browser = await launchBrowser()
  })
  afterAll(async () => {
    await fixture.browser?.close()
    if (fixture.demo) expect(await fixture.demo.stop(), fixture.demo.output()).toBe(0)
  })
  return fixture
}

/** A second tab in the same context, opened on the bank already signed in (the cookies are shared). */
export async function secondTab(context: BrowserContext, bankUrl: string, errors: Error[]): Promise<Page> {
  const page = await context.newPage()
  pageErrors(page, errors)
  await page.goto(bankUrl + '/')
  await waitForBank(page)
  return page
}
