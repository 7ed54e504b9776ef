/**
 * Attacks on device binding: forged DPoP proofs presented with a genuine
 * refresh cookie of a bound session (the thief holds the cookie, not the
 * key). Each refusal is 401 with the contract's body, the session is revoked
 * and `refresh_without_proof` logged; each group first shows its positive
 * control (a genuine proof by the device key refreshes), so the refusal is
 * about the one defect under test. At login, a forged proof is a 400 and no
 * session starts.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deviceKey, hmacWithPublicKeyProof, unsignedProof, type DeviceKey } from '../dpop/testing.ts'
import { PASSWORD, expectError, startServer, type Browser, type TestServer } from '../testing/harness.ts'
import { LogCollector, expectContractAnswer, expectNoUnexpectedErrors, fuzzParams } from './support.ts'

const logs = new LogCollector()
let srv: TestServer
beforeAll(async () => {
  srv = await startServer({ log: logs.log })
})
afterAll(async () => {
  await srv?.close()
})

const htu = (path: string) => `${srv.origin}${path}`
const claims = (path = '/auth/refresh') => ({ htm: 'POST', htu: htu(path), iat: Math.floor(srv.clock.t / 1000) })

/** A browser signed in with a proof by `key`, its session refreshed once with a genuine proof (the positive control). */
async function boundBrowser(key: DeviceKey): Promise<{ b: Browser; id: string }> {
  const b = srv.browser()
  await b.csrf()
  const login = await b.post('/auth/login', { username: await srv.user(), password: PASSWORD }, { headers: { DPoP: await key.proof(claims('/auth/login')) } })
  expect(login.status, login.text).toBe(200)
  const control = await b.refresh({ headers: { DPoP: await key.proof(claims()) } })
  expect(control.status, `positive control: ${control.text}`).toBe(200)
  return { b, id: login.body.session.id as string }
}

async function expectRefusedAndRevoked(b: Browser, id: string, proof: string, reason: string, label: string): Promise<void> {
  logs.clear()
  const res = await b.refresh({ headers: { DPoP: proof } })
  expectError(res, 401, 'unauthenticated')
  expect((await srv.store.findSession(id))?.revokedReason, label).toBe('refresh_without_proof')
  expect(logs.named('refresh_without_proof'), label).toEqual([expect.objectContaining({ session: id, reason })])
  expectError(await b.me(), 401, 'unauthenticated')
}

describe('adversarial: DPoP proofs on refresh', () => {
  it('alg none (unsigned proof carrying the device public key)', async () => {
    const key = await deviceKey()
    const { b, id } = await boundBrowser(key)
    await expectRefusedAndRevoked(b, id, unsignedProof(key.jwk, claims()), 'bad_alg', 'alg none')
  })

  it('HS256 keyed with the public JWK (algorithm confusion)', async () => {
    const key = await deviceKey()
    const { b, id } = await boundBrowser(key)
    await expectRefusedAndRevoked(b, id, await hmacWithPublicKeyProof(key.jwk, claims()), 'bad_alg', 'HMAC with the public key')
  })

  it('a jwk header carrying a private part (d)', async () => {
    const key = await deviceKey()
    const { b, id } = await boundBrowser(key)
    await expectRefusedAndRevoked(b, id, await key.proof(claims(), { header: { jwk: key.privateJwk } }), 'bad_jwk', 'private jwk')
  })

  it('thumbprint mismatch: a perfectly valid proof by the thief own key', async () => {
    const [key, thief] = [await deviceKey(), await deviceKey()]
    const { b, id } = await boundBrowser(key)
    await expectRefusedAndRevoked(b, id, await thief.proof(claims()), 'wrong_key', 'another key')
  })

  it("thumbprint substitution: the device's public key in the header, signed by the thief's", async () => {
    const [key, thief] = [await deviceKey(), await deviceKey()]
    const { b, id } = await boundBrowser(key)
    await expectRefusedAndRevoked(b, id, await thief.proof(claims(), { header: { jwk: key.jwk } }), 'bad_signature', 'substituted jwk')
  })

  it('a proof for /auth/refresh reused on a second refresh', async () => {
    const key = await deviceKey()
    const { b, id } = await boundBrowser(key)
    const proof = await key.proof(claims())
    expect((await b.refresh({ headers: { DPoP: proof } })).status).toBe(200)
    srv.clock.advance(1)
    await expectRefusedAndRevoked(b, id, proof, 'replayed', 'reused proof')
  })

  it('two DPoP headers (a valid one beside junk) are refused, not guessed at', async () => {
    const key = await deviceKey()
    const { b, id } = await boundBrowser(key)
    const res = await fetch(`${srv.url}/auth/refresh`, {
      method: 'POST',
      headers: [
        ['Cookie', b.cookieHeader('/auth/refresh')],
        ['X-CSRF-Token', b.cookie('__Host-csrf')!],
        ['Origin', srv.origin],
        ['Sec-Fetch-Site', 'same-origin'],
        ['DPoP', await key.proof(claims())],
        ['DPoP', 'junk'],
      ],
    })
    expect(res.status).toBe(401)
    expect((await srv.store.findSession(id))?.revokedAt).not.toBeNull()
  })
})

describe('adversarial: forged proofs at login', () => {
  it('alg none, HMAC, a private jwk: 400 bad_request and no session cookie', async () => {
    const key = await deviceKey()
    for (const [label, proof] of [
      ['alg none', unsignedProof(key.jwk, claims('/auth/login'))],
      ['hmac', await hmacWithPublicKeyProof(key.jwk, claims('/auth/login'))],
      ['private jwk', await key.proof(claims('/auth/login'), { header: { jwk: key.privateJwk } })],
    ] as const) {
      const b = srv.browser()
      await b.csrf()
      const res = await b.post('/auth/login', { username: await srv.user(), password: PASSWORD }, { headers: { DPoP: proof } })
      expect({ label, status: res.status, code: res.body?.error?.code }).toEqual({ label, status: 400, code: 'bad_request' })
      expect(res.setCookies.some((c) => c.startsWith('__Secure-refresh=') && !c.startsWith('__Secure-refresh=;'))).toBe(false)
    }
  })
})

describe('adversarial: DPoP header fuzz', () => {
  it('any DPoP header value on login and on a bound refresh gets a contract answer (never a 5xx)', async () => {
    const key = await deviceKey()
    const { b } = await boundBrowser(key)
    const proof = await key.proof(claims())
    const [h, p, s] = proof.split('.') as [string, string, string]
    const arb = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constantFrom(`${h}.${p}`, `${h}..${s}`, `.${p}.${s}`, `${h}.${p}.${s}.${s}`, 'x'.repeat(10_000), `${h}.${p}.${'A'.repeat(86)}`),
      fc.tuple(fc.json(), fc.json()).map(([a, c]) => `${Buffer.from(a).toString('base64url')}.${Buffer.from(c).toString('base64url')}.${s}`),
    )
    logs.clear()
    await fc.assert(
      fc.asyncProperty(arb, async (value) => {
        const header = value.replace(/[\r\n\0]/g, '')
        const login = srv.browser()
        await login.csrf()
        expectContractAnswer(await login.post('/auth/login', { username: 'nobody-here', password: PASSWORD }, { headers: { DPoP: header } }), 'login')
        expectContractAnswer(await b.refresh({ headers: { DPoP: header } }), 'refresh')
      }),
      fuzzParams(40),
    )
    expectNoUnexpectedErrors(logs)
  })
})
