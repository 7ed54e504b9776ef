import { describe, expect, it } from 'vitest'
import { demoAndBrowser, ALICE, MALLORY, apiBalance, newContext, pageErrors, pageFetch, signIn, transferViaSpa, runAllAttacks } from './harness.ts'

const fixture = demoAndBrowser()

const ATTACKS = ['form', 'multipart', 'text-plain', 'fetch-no-cors', 'img', 'navigation', 'login-csrf']

describe('the cross-site attacker page', () => {
  it('every forgery is blocked while alice is signed in, and the same transfer from the SPA works', async () => {
    expect(new URL(fixture.demo.attackerUrl).hostname).toBe('127.0.0.1')
    expect(new URL(fixture.demo.bankUrl).hostname).toBe('localhost')

    const context = await newContext(fixture.browser)
    const bank = await context.newPage()
    const errors = pageErrors(bank)
    await signIn(bank, fixture.demo.bankUrl)
    const aliceBefore = await apiBalance(bank)
    expect(aliceBefore).toBe(ALICE.balance)

    // The attacker's site, in the same browser profile, so alice's cookies are there to abuse.
    const attacker = await context.newPage()
    pageErrors(attacker, errors)
    await attacker.goto(fixture.demo.attackerUrl + '/')
    expect(await attacker.locator('[data-attack]').evaluateAll((els) => els.map((e) => e.getAttribute('data-attack')))).toEqual(ATTACKS)
    const results = await runAllAttacks(attacker)
    const report = JSON.stringify(results, null, 2)
    if (process.env.E2E_DEBUG) console.log(report)

    expect(results.map((r) => r.name)).toEqual(ATTACKS)
    for (const r of results) {
      expect(r.outcome, `${r.name}: ${r.text}\n${report}`).toBe('blocked')
      // Each forgery really reached the bank and was refused (not merely lost on the way).
      expect(r.text, report).toMatch(/bank: (POST|GET) \/(api\/transfer|auth\/login) → 4\d\d /)
    }
    expect(await attacker.locator('#status').textContent()).toBe('all 7 forgeries failed: alice keeps her money')
    expect(await attacker.locator('#alice-balance').getAttribute('data-cents')).toBe(String(aliceBefore))

    // The bank agrees: alice's money did not move, and she is still alice (no login CSRF swap).
    await bank.bringToFront()
    expect(await apiBalance(bank), report).toBe(aliceBefore)
    const me = await pageFetch(bank, '/api/me')
    expect(me.status).toBe(200)
    expect(me.body.user.username).toBe(ALICE.username)
    const session = await pageFetch(bank, '/auth/session')
    expect(session.body.user.username).toBe(ALICE.username)
    expect((await pageFetch(bank, '/api/transfers')).body.transfers).toEqual([])

    const mallory = await (await newContext(fixture.browser)).newPage()
    await signIn(mallory, fixture.demo.bankUrl, MALLORY)
    expect(await apiBalance(mallory), report).toBe(MALLORY.balance)

    // The very transfer the forgeries tried ($50.00 to mallory) goes through from the SPA:
    // the endpoint works, the forgeries were refused.
    const result = await transferViaSpa(bank, 'mallory', '50.00')
    expect(result).toEqual({ status: 'ok', text: 'Sent $50.00 to mallory.' })
    await bank.locator(`#balance[data-cents="${aliceBefore - 5000}"]`).waitFor()
    expect(await apiBalance(bank)).toBe(aliceBefore - 5000)
    expect(await apiBalance(mallory)).toBe(MALLORY.balance + 5000)

    expect(errors).toEqual([])
    await mallory.context().close()
    await context.close()
  })
})
