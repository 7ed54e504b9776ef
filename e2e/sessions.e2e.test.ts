import { describe, expect, it } from 'vitest'
import { demoAndBrowser, secondTab, ALICE, apiBalance, newContext, pageErrors, pageFetch, signIn } from './harness.ts'

const fixture = demoAndBrowser()

describe('sessions across tabs and devices', () => {
  it('logging out in one tab signs the other tab out within 2 s, without a reload', async () => {
    const context = await newContext(fixture.browser)
    const a = await context.newPage()
    const errors = pageErrors(a)
    await signIn(a, fixture.demo.bankUrl)
    const b = await secondTab(context, fixture.demo.bankUrl, errors)
    // A marker that a reload would wipe.
    await b.evaluate(() => ((window as any).__notReloaded = true))

    // Back to the first tab (a background tab's animation frames are throttled) and log out there.
    await a.bringToFront()
    await a.click('#logout')
    await a.locator('#view-signin').waitFor({ state: 'visible' })

    const t0 = Date.now()
    await b.locator('#view-signin').waitFor({ state: 'visible', timeout: 2_000 })
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(await b.locator('#view-bank').isHidden()).toBe(true)
    expect(await b.locator('#signin-notice').textContent()).toBe('You were signed out (from another tab or device).')
    // The bank data is wiped from the DOM, not merely hidden.
    expect(await b.locator('#balance').getAttribute('data-cents')).toBe('')
    expect(await b.locator('#transfers li').count()).toBe(0)
    expect(await b.evaluate(() => (window as any).__notReloaded)).toBe(true)
    // And it really is signed out.
    expect((await pageFetch(b, '/api/me')).status).toBe(401)

    expect(errors).toEqual([])
    await context.close()
  })

  it('a session revoked from another device: the next action there lands on sign-in', async () => {
    const laptop = await newContext(fixture.browser)
    const phone = await newContext(fixture.browser, { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1' })
    const victim = await laptop.newPage()
    const other = await phone.newPage()
    const errors = pageErrors(victim)
    pageErrors(other, errors)

    await signIn(victim, fixture.demo.bankUrl)
    const mine = await pageFetch(victim, '/auth/session')
    expect(mine.status).toBe(200)
    const victimSessionId: string = mine.body.session.id
    expect(await victim.locator('#server-session-id').textContent()).toBe(victimSessionId)
    const before = await apiBalance(victim)

    await signIn(other, fixture.demo.bankUrl)
    // The other device lists alice's sessions: both devices, its own marked current.
    const listed = await pageFetch(other, '/auth/sessions')
    expect(listed.status).toBe(200)
    const sessions: Array<{ id: string; current?: boolean }> = listed.body.sessions
    expect(sessions.map((s) => s.id)).toContain(victimSessionId)
    expect(sessions.find((s) => s.id === victimSessionId)?.current).not.toBe(true)
    expect(sessions.filter((s) => s.current)).toHaveLength(1)
    // No token in the listing.
    expect(JSON.stringify(listed.body)).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/)

    // Revoke the laptop with the SPA's own Revoke button.
    const row = other.locator(`#sessions [data-testid=session][data-session-id="${victimSessionId}"]`)
    await row.waitFor()
    expect(await row.getAttribute('data-current')).toBe('false')
    const deleted = other.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().endsWith(`/auth/sessions/${encodeURIComponent(victimSessionId)}`))
    await row.locator('[data-testid=revoke]').click()
    expect((await deleted).status()).toBe(204)
    await row.waitFor({ state: 'detached' })
    const after = await pageFetch(other, '/auth/sessions')
    expect(after.body.sessions.map((s: { id: string }) => s.id)).not.toContain(victimSessionId)
    // The revoking device is still signed in.
    expect(await other.locator('#view-bank').isVisible()).toBe(true)
    expect((await pageFetch(other, '/api/me')).body.user.username).toBe(ALICE.username)

    // The laptop's next action (a transfer, its access token still unexpired) lands on sign-in.
    await victim.fill('#transfer-to', 'mallory')
    await victim.fill('#transfer-amount', '25')
    await victim.click('#transfer-submit')
    await victim.locator('#view-signin').waitFor({ state: 'visible', timeout: 5_000 })
    expect(await victim.locator('#signin-notice').textContent()).toMatch(/session has ended|signed out/i)
    expect(await victim.locator('#view-bank').isHidden()).toBe(true)
    expect((await pageFetch(victim, '/api/me')).status).toBe(401)
    // The transfer did not happen.
    expect(await apiBalance(other)).toBe(before)

    expect(errors).toEqual([])
    await laptop.close()
    await phone.close()
  })
})
