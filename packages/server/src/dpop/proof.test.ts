import { generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import { calculateJwkThumbprint } from 'jose'
import { describe, expect, it } from 'vitest'
import { DpopError, normalizeHtu, verifyProof, type DpopFailure } from './proof.ts'
import { deviceKey, hmacWithPublicKeyProof, unsignedProof } from './testing.ts'

const URL_ = 'https://app.example.com/auth/refresh'
const NOW = Date.now()
const opts = { method: 'POST', url: URL_, now: NOW }

async function failure(p: Promise<unknown>): Promise<DpopFailure> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  )
  expect(e).toBeInstanceOf(DpopError)
  return (e as DpopError).failure
}

describe('verifyProof', () => {
  it('accepts a Web Crypto ES256 proof and answers the RFC 7638 thumbprint of its key', async () => {
    const key = await deviceKey()
    const proof = await key.proof({ htm: 'POST', htu: URL_ })
    const v = await verifyProof(proof, opts)
    expect(v.jkt).toBe(await calculateJwkThumbprint(key.jwk, 'sha256'))
    expect(v.jkt).toMatch(/^[\w-]{43}$/)
  })

  it('computes the RFC 7638 §3.1 example thumbprint (the spec, not our own arithmetic)', async () => {
    // RFC 7638 §3.1 is RSA; for EC the thumbprint is SHA-256 of {"crv","kty","x","y"} in that order, checked here by hand.
    const key = await deviceKey()
    const canonical = JSON.stringify({ crv: 'P-256', kty: 'EC', x: key.jwk.x, y: key.jwk.y })
    const { createHash } = await import('node:crypto')
    const expected = createHash('sha256').update(canonical).digest('base64url')
    expect((await verifyProof(await key.proof({ htm: 'POST', htu: URL_ }), opts)).jkt).toBe(expected)
  })

  it('accepts an EdDSA (Ed25519) proof signed by node:crypto', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const jwk = publicKey.export({ format: 'jwk' })
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const input = `${enc({ typ: 'dpop+jwt', alg: 'EdDSA', jwk })}.${enc({ htm: 'POST', htu: URL_, iat: Math.floor(NOW / 1000), jti: randomUUID() })}`
    const proof = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`
    expect((await verifyProof(proof, opts)).jkt).toBe(await calculateJwkThumbprint(jwk as never, 'sha256'))
  })

  it('ignores query and fragment on both sides of the htu comparison', async () => {
    const key = await deviceKey()
    await expect(verifyProof(await key.proof({ htm: 'POST', htu: `${URL_}?x=1#y` }), { ...opts, url: `${URL_}?z=2` })).resolves.toBeTruthy()
    expect(normalizeHtu('https://A.example.com:443/p?q#f')).toBe('https://a.example.com/p')
    expect(normalizeHtu('javascript:alert(1)')).toBeNull()
  })

  it('refuses alg none, HMAC keyed with the public key, and an algorithm not pinned', async () => {
    const key = await deviceKey()
    expect(await failure(verifyProof(unsignedProof(key.jwk, { htm: 'POST', htu: URL_ }), opts))).toBe('bad_alg')
    expect(await failure(verifyProof(await hmacWithPublicKeyProof(key.jwk, { htm: 'POST', htu: URL_ }), opts))).toBe('bad_alg')
    const es = await key.proof({ htm: 'POST', htu: URL_ })
    expect(await failure(verifyProof(es, { ...opts, algorithms: ['EdDSA'] }))).toBe('bad_alg')
    expect(await failure(verifyProof(await key.proof({ htm: 'POST', htu: URL_ }, { header: { alg: 'ES384' } }), opts))).toBe('bad_alg')
  })

  it('refuses a jwk with a private part, a missing jwk, a symmetric or mismatched key type', async () => {
    const key = await deviceKey()
    const claims = { htm: 'POST', htu: URL_ }
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: key.privateJwk } }), opts))).toBe('bad_jwk')
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: undefined } }), opts))).toBe('bad_jwk')
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: 'x' } }), opts))).toBe('bad_jwk')
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: { kty: 'oct', k: 'AAAA' } } }), opts))).toBe('bad_jwk')
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: { kty: 'OKP', crv: 'Ed25519', x: key.jwk.x } } }), opts))).toBe('bad_jwk')
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: { ...key.jwk, x: 'AAAA' } } }), opts))).toBe('bad_jwk')

    // After a first good proof has put the key in the import cache, its use and alg members are still checked.
    await verifyProof(await key.proof(claims), opts)
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: { ...key.jwk, use: 'enc' } } }), opts))).toBe('bad_jwk')
    expect(await failure(verifyProof(await key.proof(claims, { header: { jwk: { ...key.jwk, alg: 'ES384' } } }), opts))).toBe('bad_jwk')
    await expect(verifyProof(await key.proof(claims, { header: { jwk: { ...key.jwk, use: 'sig', alg: 'ES256' } } }), opts)).resolves.toBeTruthy()
  })

  it('refuses a proof whose jwk is another key than the one that signed (thumbprint substitution)', async () => {
    const [a, b] = [await deviceKey(), await deviceKey()]
    const proof = await a.proof({ htm: 'POST', htu: URL_ }, { header: { jwk: b.jwk } })
    expect(await failure(verifyProof(proof, opts))).toBe('bad_signature')
  })

  it('refuses a tampered payload, a wrong typ, and input that is not a JWS', async () => {
    const key = await deviceKey()
    const [h, , s] = (await key.proof({ htm: 'POST', htu: URL_ })).split('.')
    const forged = Buffer.from(JSON.stringify({ htm: 'POST', htu: URL_, iat: Math.floor(NOW / 1000), jti: randomUUID() })).toString('base64url')
    expect(await failure(verifyProof(`${h}.${forged}.${s}`, opts))).toBe('bad_signature')
    expect(await failure(verifyProof(await key.proof({ htm: 'POST', htu: URL_ }, { header: { typ: 'JWT' } }), opts))).toBe('bad_typ')
    for (const junk of ['', 'a.b', 'a.b.c.d', '!!.x.y', 'x'.repeat(5000), 'e30.e30.e30', `${h}, ${h}.x.y`]) {
      expect(['malformed', 'bad_typ'], junk.slice(0, 20)).toContain(await failure(verifyProof(junk, opts)))
    }
  })

  it('refuses a proof for another method or another URL (origin, path)', async () => {
    const key = await deviceKey()
    expect(await failure(verifyProof(await key.proof({ htm: 'GET', htu: URL_ }), opts))).toBe('wrong_method')
    expect(await failure(verifyProof(await key.proof({ htm: 'post', htu: URL_ }), opts))).toBe('wrong_method')
    for (const htu of ['https://app.example.com/auth/login', 'https://evil.example.com/auth/refresh', 'http://app.example.com/auth/refresh', 'https://app.example.com:8443/auth/refresh', '/auth/refresh']) {
      expect(await failure(verifyProof(await key.proof({ htm: 'POST', htu }), opts)), htu).toBe('wrong_url')
    }
  })

  it('refuses a stale or future iat (and says which key signed it), unless it carries a valid nonce', async () => {
    const key = await deviceKey()
    const iat = Math.floor(NOW / 1000)
    await expect(verifyProof(await key.proof({ htm: 'POST', htu: URL_, iat: iat - 59 }), opts)).resolves.toBeTruthy()
    for (const off of [-61, 61, -3600]) {
      const e = await verifyProof(await key.proof({ htm: 'POST', htu: URL_, iat: iat + off }), opts).catch((x: DpopError) => x)
      expect(e).toBeInstanceOf(DpopError)
      expect((e as DpopError).failure).toBe('stale')
      expect((e as DpopError).jkt).toBe(await calculateJwkThumbprint(key.jwk, 'sha256'))
    }
    const skewed = await key.proof({ htm: 'POST', htu: URL_, iat: iat - 3600, nonce: 'good' })
    await expect(verifyProof(skewed, { ...opts, nonceValid: (n) => n === 'good' })).resolves.toBeTruthy()
    const badNonce = await key.proof({ htm: 'POST', htu: URL_, iat: iat - 3600, nonce: 'forged' })
    expect(await failure(verifyProof(badNonce, { ...opts, nonceValid: (n) => n === 'good' }))).toBe('stale')
  })

  it('refuses a missing or odd jti or iat', async () => {
    const key = await deviceKey()
    expect(await failure(verifyProof(await key.proof({ htm: 'POST', htu: URL_ }, { payload: { jti: undefined } }), opts))).toBe('malformed')
    expect(await failure(verifyProof(await key.proof({ htm: 'POST', htu: URL_ }, { payload: { jti: 'short' } }), opts))).toBe('malformed')
    expect(await failure(verifyProof(await key.proof({ htm: 'POST', htu: URL_ }, { payload: { iat: '1' } }), opts))).toBe('malformed')
  })
})
