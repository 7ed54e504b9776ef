// The demo as `BASTION_ACCESS_FORMAT=jwe npm start` runs it, in Chromium: the access cookie is a JWE that shows no
// claim, the bank works through it, and a refresh (the access cookie gone) sets a JWE again.
import { describe, expect, it } from 'vitest'
import { ALICE, demoAndBrowser, newContext, pageErrors, pageFetch, signIn, transferViaSpa, waitForBank } from './harness.ts'

const fixture = demoAndBrowser({ BASTION_ACCESS_FORMAT: 'jwe' })

const segmentJson = (value: string, i: number) => JSON.parse(Buffer.from(value.split('.')[i]!, 'base64url').toString('utf8'))

describe('the encrypted access cookie in a real browser', () => {
  it('signs in, reads and transfers through a JWE cookie that shows no claim; refresh sets a JWE again', async () => {
    const context = await newContext(fixture.browser)
    const page = await context.newPage()
    const errors = pageErrors(page)
    await signIn(page, fixture.demo.bankUrl)
    const cookie = async () => (await context.cookies(fixture.demo.bankUrl)).find((c) => c.name === '__Host-access')
    const first = (await cookie())!
    expect(first.httpOnly).toBe(true)
    expect(first.value.split('.')).toHaveLength(5)
    expect(segmentJson(first.value, 0)).toEqual({ alg: 'dir', enc: 'A256GCM', kid: expect.any(String), cty: 'JWT' })
    const visible = first.value.split('.').map((s) => Buffer.from(s, 'base64url').toString('latin1')).join(' ')
    expect(visible).not.toContain(ALICE.username)
    expect(visible).not.toContain('"sub"')
    const me = await pageFetch(page, '/api/me')
    expect(me.status).toBe(200)
    expect(me.body.user.username).toBe(ALICE.username)
    expect((await transferViaSpa(page, 'mallory', '1.00')).status).toBe('ok')
    // The access cookie gone (as after its 5 minutes): the client refreshes on token_expired and gets a new JWE.
    await context.clearCookies({ name: '__Host-access' })
    await page.reload()
    await waitForBank(page)
    const second = (await cookie())!
    expect(second.value.split('.')).toHaveLength(5)
    expect(second.value).not.toBe(first.value)
    expect(errors).toEqual([])
    await context.close()
  })
})
