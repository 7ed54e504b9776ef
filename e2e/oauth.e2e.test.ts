/**
 * Provider sign-in in Chromium, from the demo's sign-in page, against a real
 * OpenID provider (oidc-provider on loopback, its login form filled in by the
 * browser). The attacks end with the browser signed out on the sign-in page,
 * which names the refusal.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sqliteStore } from '../packages/server/src/stores/sqlite/index.ts'
import type { Page } from 'playwright-core'
import { startOidcProvider, type TestOidcProvider } from '../packages/server/src/testing/oidc-provider.ts'
import { demoAndBrowser, newContext, openSignIn, pageErrors, pageFetch, waitForBank } from './harness.ts'

let op: TestOidcProvider
beforeAll(async () => {
  op = await startOidcProvider({
    accounts: {
      'e2e-sub-1': { email: 'carol@example.com', email_verified: true, name: 'Carol', preferred_username: 'carol' },
      'e2e-sub-2': { email: 'dave@example.com', email_verified: true, name: 'Dave', preferred_username: 'dave' },
    },
  })
})
const fixture = demoAndBrowser(() => ({
  BASTION_OIDC_ISSUER: op.issuer,
  BASTION_OIDC_CLIENT_ID: op.clientId,
  BASTION_OIDC_CLIENT_SECRET: op.clientSecret,
  BASTION_OIDC_NAME: 'Test Provider',
}))
beforeAll(async () => {
  await op.register([`${fixture.demo.bankUrl}/auth/oauth/oidc/callback`])
})
afterAll(async () => {
  await op?.close()
})

/** Clicks the demo's provider button and answers the authorization URL the browser was sent to, on the provider's login form. */
async function clickProvider(page: Page): Promise<string> {
  const authorize = page.waitForRequest((r) => r.url().startsWith(`${op.issuer}/auth?`))
  await page.click('#provider-oidc')
  const url = (await authorize).url()
  await page.locator('input[name=login]').waitFor()
  return url
}

async function expectSignedOutWith(page: Page, code: string) {
  await page.locator('#view-signin').waitFor({ state: 'visible' })
  await page.locator(`#signin-notice[data-code="${code}"]`).waitFor({ state: 'visible' })
  // The code is read once, then taken out of the address bar.
  expect(new URL(page.url()).search).toBe('')
  expect((await pageFetch(page, '/api/me')).status).toBe(401)
}

describe('Sign in with a provider, in Chromium', () => {
  it('the happy path: the button, the provider form, back in the bank with a fresh oauth:oidc session', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)
    await openSignIn(page, fixture.demo.bankUrl)
    expect(await page.locator('#provider-oidc').textContent()).toBe('Sign in with Test Provider')
    await clickProvider(page)
    await page.fill('input[name=login]', 'e2e-sub-1')
    await page.click('#provider-login')
    await waitForBank(page, 'carol')
    expect(new URL(page.url()).origin).toBe(fixture.demo.bankUrl)
    const sessions = await pageFetch(page, '/auth/sessions')
    expect(sessions.body.sessions).toEqual([expect.objectContaining({ method: 'oauth:oidc', current: true })])
    // The client proved its device key when it started the flow: the session the callback made is bound to it.
    const store = sqliteStore({ file: join(fixture.demo.dataDir, 'bastion.sqlite') })
    try {
      expect((await store.findSession(sessions.body.sessions[0].id))?.dpopJkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
    } finally {
      await store.close()
    }
    // The browser holds only Bastion's cookies for the bank: no provider token anywhere.
    const bankHost = new URL(fixture.demo.bankUrl).hostname
    const cookies = (await context.cookies()).filter((c) => c.domain === bankHost).map((c) => c.name).sort()
    expect(cookies).toEqual(['__Host-access', '__Host-csrf', '__Secure-refresh'])
    const access = (await context.cookies(fixture.demo.bankUrl)).find((c) => c.name === '__Host-access')!
    expect(access).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax' })
    expect(await page.evaluate(() => document.cookie)).not.toMatch(/access|refresh|oauth/)
    expect(errors).toEqual([])
    await context.close()
  })

  it('a forged state: back on the sign-in page with oauth_state, signed out', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    await openSignIn(page, fixture.demo.bankUrl)
    const authorize = await clickProvider(page)
    // The provider completes the login (scripted), then the state in the callback is swapped.
    const callback = await op.login(authorize, 'e2e-sub-2')
    callback.searchParams.set('state', 'forged-state-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')
    await page.goto(callback.href)
    await expectSignedOutWith(page, 'oauth_state')
    expect(await context.cookies(fixture.demo.bankUrl).then((cs) => cs.map((c) => c.name))).not.toContain('__Host-access')
    await context.close()
  })

  it("a state from another browser (login CSRF): the attacker's callback URL opened in the victim's browser", async () => {
    const attackerContext = await newContext(fixture.browser)
    const attacker = await attackerContext.newPage()
    await openSignIn(attacker, fixture.demo.bankUrl)
    const callback = await op.login(await clickProvider(attacker), 'e2e-sub-2')
    const victimContext = await newContext(fixture.browser)
    const victim = await victimContext.newPage()
    await openSignIn(victim, fixture.demo.bankUrl)
    await victim.goto(callback.href)
    await expectSignedOutWith(victim, 'oauth_state')
    await attackerContext.close()
    await victimContext.close()
  })

  it('returnTo=https://evil.example: signed in, and still on the bank', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    await openSignIn(page, fixture.demo.bankUrl)
    await pageFetch(page, '/auth/csrf')
    const started = await pageFetch(page, '/auth/oauth/oidc', { method: 'POST', body: { returnTo: 'https://evil.example/steal' }, csrf: true })
    expect(started.status).toBe(200)
    await page.goto(started.body.redirect)
    await page.fill('input[name=login]', 'e2e-sub-2')
    const landed = page.waitForURL((u) => u.origin === fixture.demo.bankUrl && u.pathname === '/')
    await page.click('#provider-login')
    await landed
    await waitForBank(page, 'dave')
    expect(new URL(page.url()).origin).toBe(fixture.demo.bankUrl)
    await context.close()
  })
})
