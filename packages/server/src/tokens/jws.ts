import { sign, type KeyObject } from 'node:crypto'
import { randomToken } from '../crypto/encoding.ts'
import type { SigningAlgorithm } from '../keys/keyring.ts'

/** A private key ready to sign, as the keyring hands it out. */
export interface JwtSigner {
  kid: string
  alg: SigningAlgorithm
  /** The same private key as a node:crypto `KeyObject`, which signs synchronously. */
  keyObject: KeyObject
}

const b64 = (json: string): string => Buffer.from(json, 'utf8').toString('base64url')

/**
 * Signs a JWT as a compact JWS (RFC 7515 §7.1): `BASE64URL(header) '.'
 * BASE64URL(claims) '.' BASE64URL(signature)`, header `{ alg, kid, typ }`.
 *
 * Why not jose's `SignJWT` here: jose 6 signs only through Web Crypto, whose
 * every call is a hop to the libuv threadpool and back, plus a builder and
 * header validation per token; on a refresh that was the largest cost after
 * the HTTP write. The signature itself is node:crypto's (Ed25519, or ECDSA
 * P-256 with SHA-256 in the JOSE `r‖s` encoding); only the three-part
 * serialization is written here. Every token is still verified by jose
 * (`jwtVerify` with the algorithm pinned), and the tests check that jose
 * verifies what this signs, for both algorithms.
 *
 * @example
 * ```ts
 * const token = signJwt(keyring.signingKey(), 'at+jwt', { sub: 'u1', iat, exp })
 * ```
 */
export function signJwt(signer: JwtSigner, typ: string, claims: Readonly<Record<string, unknown>>): string {
  const input = `${b64(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ }))}.${b64(JSON.stringify(claims))}`
  const data = Buffer.from(input, 'latin1')
  const signature =
    signer.alg === 'EdDSA'
      ? sign(null, data, signer.keyObject)
      : sign('sha256', data, { key: signer.keyObject, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

/** What an access token says (RFC 9068): who, for which session and client, issued by whom for whom, and when. */
export interface AccessTokenClaims {
  issuer: string
  audience: string
  /** The user id (`sub`). */
  subject: string
  sessionId: string
  username: string
  clientId: string
  /** Seconds since the epoch. */
  issuedAt: number
  expiresAt: number
}

/** An `at+jwt` access token with a fresh `jti`: the one shape Bastion issues, to browsers, native clients and upstreams. */
export function signAccessToken(signer: JwtSigner, c: AccessTokenClaims): string {
  return signJwt(signer, 'at+jwt', {
    client_id: c.clientId,
    sid: c.sessionId,
    preferred_username: c.username,
    iss: c.issuer,
    aud: c.audience,
    sub: c.subject,
    iat: c.issuedAt,
    exp: c.expiresAt,
    jti: randomToken(16),
  })
}
