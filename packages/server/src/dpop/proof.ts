/**
 * One DPoP proof (RFC 9449 §4): a JWT the client signs with its device key,
 * carrying that key's public half in the `jwk` header. Verifying it shows the
 * request was made by whoever holds the private key, for this method and URL,
 * just now. What a proof does NOT show by itself is that it is new: the
 * caller claims the `jti` in a replay cache (see replay-cache.ts).
 */
import { parseHttpUrl } from '../http/http-url.ts'
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify, type JWK, type JWTVerifyGetKey } from 'jose'

/** Asymmetric algorithms only: `none` and HMAC (a "secret" anybody can read from the `jwk` header) never. */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA'] as const
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number]

/** Why a proof was refused; stable strings for logs and tests. */
export type DpopFailure =
  | 'malformed' // not a compact JWS, or a header or claim of the wrong type
  | 'bad_typ' // typ is not dpop+jwt
  | 'bad_alg' // none, HMAC, or an algorithm not pinned
  | 'bad_jwk' // no jwk, a private part in it, or a key type that cannot sign with alg
  | 'bad_signature'
  | 'wrong_method' // htm
  | 'wrong_url' // htu
  | 'stale' // iat outside the window and no valid nonce: the client may retry with the DPoP-Nonce
  | 'replayed' // jti seen before
  | 'wrong_key' // a valid proof, by a key other than the session's

export class DpopError extends Error {
  readonly failure: DpopFailure
  /** Thumbprint of the key that signed, when the signature verified (a stale proof by the right key is not theft). */
  readonly jkt: string | undefined
  constructor(failure: DpopFailure, message: string, jkt?: string) {
    super(message)
    this.name = 'DpopError'
    this.failure = failure
    this.jkt = jkt
  }
}

/** What a verified proof establishes. */
export interface VerifiedProof {
  /** RFC 7638 SHA-256 thumbprint of the signing key, base64url: what a session is bound to. */
  jkt: string
  jti: string
  /** Seconds since the epoch, as the client's clock said. */
  iat: number
  /** The `nonce` claim, when the client sent one (checked by the caller). */
  nonce: string | undefined
}

export interface VerifyProofOptions {
  /** The request's method; compared with `htm` exactly. */
  method: string
  /** The URL as the browser addressed it: public origin + path. Query and fragment are ignored on both sides (RFC 9449 §4.3). */
  url: string
  /** Clock, ms. */
  now: number
  /** How far `iat` may be from now, either way, in seconds. Default 60. */
  maxAgeSeconds?: number
  /** Returns true for a nonce this server issued recently; with one, `iat` may be outside the window (a skewed clock). */
  nonceValid?: (nonce: string) => boolean
  /** Default: ES256 and EdDSA. */
  algorithms?: readonly DpopAlgorithm[]
}

/** Longest proof accepted; a P-256 proof is about 500 bytes. */
const MAX_PROOF_LENGTH = 4096
/** JWK members that only a private (or symmetric) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/**
 * Imported public keys by algorithm and thumbprint. A device proves with the
 * same key at every refresh, and importing it costs more than verifying with
 * it; the thumbprint is a hash of exactly the members that define the key,
 * so a hit is the very key the header carries. Bounded: the oldest goes first.
 */
const importedKeys = new Map<string, ReturnType<typeof EmbeddedJWK>>()
const IMPORTED_KEYS_MAX = 10_000

function embeddedKey(cacheKey: string): JWTVerifyGetKey {
  return (header, token) => {
    let key = importedKeys.get(cacheKey)
    if (key === undefined) {
      key = EmbeddedJWK(header, token)
      key.catch(() => importedKeys.delete(cacheKey))
      if (importedKeys.size >= IMPORTED_KEYS_MAX) importedKeys.delete(importedKeys.keys().next().value!)
      importedKeys.set(cacheKey, key)
    }
    return key
  }
}

/** `htu` without query and fragment; null when it is not an absolute http(s) URL. */
export function normalizeHtu(value: string): string | null {
  const url = parseHttpUrl(value)
  return url && `${url.origin}${url.pathname}`
}

/**
 * Verifies a DPoP proof's form, signature, method, URL and age. Throws
 * `DpopError`; never anything else for any input.
 *
 * @example
 * ```ts
 * const { jkt, jti } = await verifyProof(request.headers.get('dpop')!, { method: 'POST', url: 'https://app.example/auth/refresh', now: Date.now() })
 * ```
 */
export async function verifyProof(proof: string, options: VerifyProofOptions): Promise<VerifiedProof> {
  if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH || !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(proof)) {
    throw new DpopError('malformed', 'The DPoP header is not one compact JWS.')
  }
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(proof)
  } catch {
    throw new DpopError('malformed', 'The DPoP proof header is not JSON.')
  }
  // Checked here, before jose, so each refusal has a precise reason (and no key material is ever imported from a private JWK).
  if (header.typ !== 'dpop+jwt') throw new DpopError('bad_typ', 'A DPoP proof must have typ "dpop+jwt".')
  const algorithms = options.algorithms ?? DPOP_ALGORITHMS
  if (typeof header.alg !== 'string' || !(algorithms as readonly string[]).includes(header.alg)) {
    throw new DpopError('bad_alg', `A DPoP proof must be signed with ${algorithms.join(' or ')}.`)
  }
  const jwk = header.jwk as JWK | undefined
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new DpopError('bad_jwk', 'A DPoP proof must carry its public key in "jwk".')
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw new DpopError('bad_jwk', 'The DPoP "jwk" must be a public key: it carries a private part.')
  const expectedKty = header.alg === 'ES256' ? 'EC' : 'OKP'
  if (jwk.kty !== expectedKty) throw new DpopError('bad_jwk', `The DPoP "jwk" must be an ${expectedKty} key for ${header.alg}.`)
  // EmbeddedJWK checks these too, but only on a key's first import (see embeddedKey).
  if ((jwk.use !== undefined && jwk.use !== 'sig') || (jwk.alg !== undefined && jwk.alg !== header.alg)) {
    throw new DpopError('bad_jwk', 'The DPoP "jwk" is not a signing key for this algorithm.')
  }
  let jkt: string
  try {
    jkt = await calculateJwkThumbprint(jwk, 'sha256')
  } catch {
    throw new DpopError('bad_jwk', 'The DPoP "jwk" is not a valid key.')
  }

  let payload: Record<string, unknown>
  try {
    ;({ payload } = await jwtVerify(proof, embeddedKey(`${header.alg}:${jkt}`), { typ: 'dpop+jwt', algorithms: [...algorithms] }))
  } catch (e) {
    if (e instanceof errors.JWSSignatureVerificationFailed) throw new DpopError('bad_signature', 'The DPoP proof signature does not verify.')
    // Claims and payload problems are jose's JWT errors; anything else failed while importing the embedded key
    // (jose's JWSInvalid, or Web Crypto's DOMException for a point not on the curve).
    if (e instanceof errors.JWTClaimValidationFailed || e instanceof errors.JWTInvalid || e instanceof errors.JWTExpired) {
      throw new DpopError('malformed', 'The DPoP proof is not a valid JWT.')
    }
    throw new DpopError('bad_jwk', 'The DPoP "jwk" is not a usable public key.')
  }

  const { htm, htu, iat, jti, nonce } = payload
  if (typeof jti !== 'string' || jti.length < 8 || jti.length > 256) throw new DpopError('malformed', 'The DPoP proof needs a "jti" of 8 to 256 characters.', jkt)
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopError('malformed', 'The DPoP proof needs a numeric "iat".', jkt)
  if (nonce !== undefined && typeof nonce !== 'string') throw new DpopError('malformed', 'The DPoP "nonce" must be a string.', jkt)
  if (htm !== options.method) throw new DpopError('wrong_method', `The DPoP proof is for another method (htm), not ${options.method}.`, jkt)
  const expectedUrl = normalizeHtu(options.url)
  if (typeof htu !== 'string' || expectedUrl === null || normalizeHtu(htu) !== expectedUrl) {
    throw new DpopError('wrong_url', 'The DPoP proof is for another URL (htu).', jkt)
  }
  const maxAge = options.maxAgeSeconds ?? 60
  const fresh = Math.abs(options.now / 1000 - iat) <= maxAge
  const nonceOk = nonce !== undefined && (options.nonceValid?.(nonce) ?? false)
  if (!fresh && !nonceOk) throw new DpopError('stale', `The DPoP proof's iat is more than ${maxAge} s from the server's clock; retry with the DPoP-Nonce.`, jkt)
  return { jkt, jti, iat, nonce }
}
