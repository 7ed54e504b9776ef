/**
 * DPoP proofs made the way a browser makes them (Web Crypto, ECDSA P-256,
 * raw r||s signature), plus the malformed ones an attacker would try. For
 * tests only: it never goes through jose, so the verifier is checked against
 * an independent signer.
 */
import { randomUUID, webcrypto } from 'node:crypto'

const subtle = webcrypto.subtle
const enc = (b: string | Uint8Array | ArrayBuffer): string =>
  Buffer.from(typeof b === 'string' ? b : b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('base64url')

export interface ProofClaims {
  htm: string
  htu: string
  iat?: number
  jti?: string
  nonce?: string
}

export interface DeviceKey {
  /** Public JWK (kty, crv, x, y). */
  jwk: Record<string, string>
  /** Private JWK, for attacks that put it in the header. */
  privateJwk: Record<string, string>
  /** A proof signed by this key; `header` and `payload` override or add members (undefined removes one). */
  proof(claims: ProofClaims, over?: { header?: Record<string, unknown>; payload?: Record<string, unknown>; now?: number }): Promise<string>
}

/** A fresh ES256 device key, non-extractable private half like the browser client's (its private JWK comes from a twin export). */
export async function deviceKey(): Promise<DeviceKey> {
  const pair = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const full = (await subtle.exportKey('jwk', pair.privateKey)) as Record<string, string>
  const jwk = { kty: 'EC', crv: 'P-256', x: full.x!, y: full.y! }
  const privateJwk = { ...jwk, d: full.d! }
  return {
    jwk,
    privateJwk,
    async proof(claims, over = {}) {
      const header = strip({ typ: 'dpop+jwt', alg: 'ES256', jwk, ...over.header })
      const payload = strip({
        jti: claims.jti ?? randomUUID(),
        htm: claims.htm,
        htu: claims.htu,
        iat: claims.iat ?? Math.floor((over.now ?? Date.now()) / 1000),
        ...(claims.nonce ? { nonce: claims.nonce } : {}),
        ...over.payload,
      })
      const input = `${enc(JSON.stringify(header))}.${enc(JSON.stringify(payload))}`
      const sig = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(input))
      return `${input}.${enc(sig)}`
    },
  }
}

const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))

/** An unsigned proof (`alg: none`), as RFC 8725 §2.1 warns. */
export function unsignedProof(jwk: Record<string, string>, claims: ProofClaims): string {
  const header = { typ: 'dpop+jwt', alg: 'none', jwk }
  const payload = { jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims }
  return `${enc(JSON.stringify(header))}.${enc(JSON.stringify(payload))}.`
}

/** An HS256 proof keyed with the public JWK's own text: the classic algorithm confusion. */
export async function hmacWithPublicKeyProof(jwk: Record<string, string>, claims: ProofClaims): Promise<string> {
  const header = { typ: 'dpop+jwt', alg: 'HS256', jwk }
  const payload = { jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims }
  const input = `${enc(JSON.stringify(header))}.${enc(JSON.stringify(payload))}`
  const key = await subtle.importKey('raw', new TextEncoder().encode(JSON.stringify(jwk)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return `${input}.${enc(await subtle.sign('HMAC', key, new TextEncoder().encode(input)))}`
}
