import { createPrivateKey, type JsonWebKey } from 'node:crypto'
import { decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import type { SigningAlgorithm } from '../keys/keyring.ts'
import { signJwt } from './jws.ts'

async function signerFor(alg: SigningAlgorithm) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const keyObject = createPrivateKey({ key: (await exportJWK(privateKey)) as JsonWebKey, format: 'jwk' })
  return { publicKey, signer: { kid: `kid-${alg}`, alg, keyObject } }
}

const claims = { client_id: 'bastion-web', sid: 'sess', preferred_username: 'zoë 🔑', iss: 'https://app.example', aud: 'bastion', sub: 'u1', iat: 1_700_000_000, exp: 4_000_000_000, jti: 'j1' }

describe('signJwt: what node:crypto signs, jose verifies', () => {
  for (const alg of ['EdDSA', 'ES256'] as const) {
    it(`${alg}: jose verifies it with the algorithm pinned; header and claims are exactly what was given`, async () => {
      const { publicKey, signer } = await signerFor(alg)
      const token = signJwt(signer, 'at+jwt', claims)
      const { payload, protectedHeader } = await jwtVerify(token, publicKey, { algorithms: [alg], typ: 'at+jwt', issuer: claims.iss, audience: claims.aud })
      expect(protectedHeader).toEqual({ alg, kid: signer.kid, typ: 'at+jwt' })
      expect(payload).toEqual(claims)
      // JOSE's signature encodings: 64 bytes for both (Ed25519; ECDSA r‖s, not DER).
      expect(Buffer.from(token.split('.')[2]!, 'base64url')).toHaveLength(64)
    })

    it(`${alg}: a token changed anywhere, or verified with another key or algorithm, is refused`, async () => {
      const { publicKey, signer } = await signerFor(alg)
      const other = await signerFor(alg)
      const token = signJwt(signer, 'at+jwt', claims)
      await expect(jwtVerify(token, other.publicKey, { algorithms: [alg] })).rejects.toThrow()
      await expect(jwtVerify(token, publicKey, { algorithms: [alg === 'EdDSA' ? 'ES256' : 'EdDSA'] })).rejects.toThrow()
      const [h, p, s] = token.split('.') as [string, string, string]
      const flip = (seg: string, i: number) => seg.slice(0, i) + (seg[i] === 'A' ? 'B' : 'A') + seg.slice(i + 1)
      for (const forged of [`${flip(h, 5)}.${p}.${s}`, `${h}.${flip(p, 10)}.${s}`, `${h}.${p}.${flip(s, 20)}`, `${h}.${p}.`]) {
        await expect(jwtVerify(forged, publicKey, { algorithms: [alg] })).rejects.toThrow()
      }
    })
  }

  it('ECDSA signatures differ each time, Ed25519 ones do not; both verify', async () => {
    const es = await signerFor('ES256')
    expect(signJwt(es.signer, 'at+jwt', claims)).not.toBe(signJwt(es.signer, 'at+jwt', claims))
    const ed = await signerFor('EdDSA')
    expect(signJwt(ed.signer, 'at+jwt', claims)).toBe(signJwt(ed.signer, 'at+jwt', claims))
    expect(decodeProtectedHeader(signJwt(ed.signer, 'x', {}))).toEqual({ alg: 'EdDSA', kid: 'kid-EdDSA', typ: 'x' })
  })
})
