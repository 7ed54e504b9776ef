/**
 * Drives examples/react-express's SPA in a browser page: sign in as the seeded
 * alice, the authenticated call (GET /api/me) shows her name, a note is added
 * (a CSRF-protected POST), the device list shows this one device, sign out.
 *
 * Self-contained on purpose (playwright-core types only, plain `throw` for
 * failures, no test runner): the packaging check imports it and runs it
 * against the same example installed from the npm tarballs. It expects an API
 * where alice has no other live session (a fresh data directory).
 */
import type { Locator, Page } from 'playwright-core'

const ALICE = { username: 'alice', password: 'alice-password-1' }
const TIMEOUT = 15_000

/** What the page shows as an error, to make a failure say why. */
async function shownErrors(page: Page): Promise<string> {
  const texts = (await page.locator('[data-testid=error]:visible').allTextContents().catch(() => [])).filter((t) => t.trim())
  return texts.length ? ` The page shows: ${texts.map((t) => JSON.stringify(t.trim())).join(', ')}.` : ''
}

async function expectVisible(page: Page, locator: Locator, what: string): Promise<void> {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: TIMEOUT })
  } catch {
    throw new Error(`${what}: not shown within ${TIMEOUT / 1000} s at ${page.url()}.${await shownErrors(page)}`)
  }
}

export async function driveReactExample(page: Page, spaUrl: string, artifact?: string): Promise<void> {
  const errors: string[] = []
  const onError = (e: Error) => errors.push(e.message)
  page.on('pageerror', onError)
  try {
    // Sign in as the seeded user.
    await page.goto(spaUrl)
    await expectVisible(page, page.locator('[data-testid=sign-in]'), 'the sign-in form')
    await page.fill('#username', ALICE.username)
    await page.fill('#password', ALICE.password)
    await page.click('#sign-in')

    // The authenticated call: GET /api/me names the user.
    await expectVisible(page, page.locator('[data-testid=whoami]', { hasText: ALICE.username }), 'the signed-in user from GET /api/me')

    // The CSRF-protected POST, through the client (which adds the header).
    const text = `a note from the browser, ${new Date().toISOString()}`
    await page.fill('#note-text', text)
    await page.click('#note-add')
    await expectVisible(page, page.locator('[data-testid=note]', { hasText: text }), 'the note added by POST /api/notes')

    // The device list (GET /auth/sessions): this one device.
    const devices = page.locator('[data-testid=device]')
    await expectVisible(page, devices, 'the device list from GET /auth/sessions')
    const count = await devices.count()
    if (count !== 1) throw new Error(`the device list shows ${count} devices, expected this one only.${await shownErrors(page)}`)
    if ((await devices.first().getAttribute('data-current')) !== 'true') throw new Error('the one device listed is not marked as this device')
    if (!(await devices.first().textContent())?.includes('this device')) throw new Error('the device list does not say "this device"')

    const shown = await shownErrors(page)
    if (shown) throw new Error(`signed in, but an error is shown.${shown}`)
    if (artifact) await page.screenshot({ path: artifact, fullPage: true })

    // Sign out: back to the form, and still signed out after a reload (the server ended the session).
    await page.click('#sign-out')
    await expectVisible(page, page.locator('[data-testid=sign-in]'), 'the sign-in form after signing out')
    await page.reload()
    await expectVisible(page, page.locator('[data-testid=sign-in]'), 'the sign-in form after signing out and reloading')
    if (await page.locator('[data-testid=whoami]:visible').count()) throw new Error('still shows a signed-in user after signing out')

    if (errors.length) throw new Error(`the page threw: ${errors.join('; ')}`)
  } finally {
    page.off('pageerror', onError)
  }
}
