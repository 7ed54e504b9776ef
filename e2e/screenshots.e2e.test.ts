/**
 * Screenshots of the demo for the README and for a human look:
 * e2e/artifacts/{signin,bank,bank-mobile,attacker}.png
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { demoAndBrowser, ALICE, ARTIFACTS, newContext, openSignIn, pageErrors, runAllAttacks, signIn, transferViaSpa } from './harness.ts'

const fixture = demoAndBrowser()

async function shoot(page: Page, name: string, fullPage = false): Promise<void> {
  const path = join(ARTIFACTS, `${name}.png`)
  // No blinking cursor, no caret, no transition caught half-way.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur?.())
  await page.screenshot({ path, fullPage, animations: 'disabled', caret: 'hide' })
  const size = statSync(path).size
  expect(size).toBeGreaterThan(5_000)
  expect(size).toBeLessThan(1_500_000)
}

describe('screenshots', () => {
  it('sign-in, bank (desktop and mobile) and the attacker page after "Run all"', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)

    await openSignIn(page, fixture.demo.bankUrl)
    await shoot(page, 'signin')

    await signIn(page, fixture.demo.bankUrl)
    expect((await transferViaSpa(page, 'mallory', '12.34')).status).toBe('ok')
    expect((await transferViaSpa(page, 'mallory', '50')).status).toBe('ok')
    await page.locator(`#balance[data-cents="${ALICE.balance - 1234 - 5000}"]`).waitFor()
    await page.locator('#transfers [data-testid=transfer]').nth(1).waitFor()
    await shoot(page, 'bank', true)

    const attacker = await context.newPage()
    pageErrors(attacker, errors)
    await attacker.goto(fixture.demo.attackerUrl + '/')
    const results = await runAllAttacks(attacker)
    expect(results.every((r) => r.outcome === 'blocked'), JSON.stringify(results)).toBe(true)
    await shoot(attacker, 'attacker', true)

    // A phone: its own profile, signed in, after a transfer.
    const phone = await newContext(fixture.browser, {
      viewport: { width: 375, height: 800 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 1,
      userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36',
    })
    const mobile = await phone.newPage()
    pageErrors(mobile, errors)
    await signIn(mobile, fixture.demo.bankUrl)
    expect((await transferViaSpa(mobile, 'mallory', '5')).status).toBe('ok')
    await mobile.locator('#transfers [data-testid=transfer]').nth(2).waitFor()
    // Nothing wider than the phone: no horizontal scrolling.
    expect(await mobile.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375)
    await shoot(mobile, 'bank-mobile', true)

    expect(errors).toEqual([])
    await phone.close()
    await context.close()
  })
})
