import { createLocalJWKSet, createRemoteJWKSet, errors, jwksCache, jwtVerify, type ExportedJWKSCache, type JWTPayload, type JWTVerifyGetKey } from 'jose'

/** The error codes this service answers with: a subset of Bastion's contract. */
export type ErrorCode = 'unauthenticated' | 'token_expired' | 'unavailable' | 'not_found'

const STATUS: Record<ErrorCode, number> = { unauthenticated: 401, token_expired: 401, unavailable: 503, not_found: 404 }

/** An error with the contract's stable `code`; the HTTP layer turns it into `{"error": {"code", "message"}}`. */
export class ServiceError extends Error {
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds, for `Retry-After` on a 503. */
    readonly retryAfter?: number,
  ) {
    super(message)
    this.name = 'ServiceError'
    this.status = STATUS[code]
  }
}

export interface VerifierOptions {
  /** Bastion's `GET /.well-known/jwks.json`, e.g. `http://localhost:3000/.well-known/jwks.json`. */
  jwksUrl: string | URL
  /** Bastion's `issuer` (the demo's: `bastion`, or `BASTION_PUBLIC_ORIGIN` when that is set). Required. */
  issuer: string
  /** Bastion's `audience` (defaults there to the issuer). Required. */
  audience: string
  /** Milliseconds after a successful JWKS fetch before an unknown `kid` may trigger another. Default 30000 (jose's). */
  cooldownDuration?: number
  /** Milliseconds a fetched JWKS is used before it is fetched again. Default 600000 (jose's; Bastion sends max-age=300). */
  cacheMaxAge?: number
  /** Milliseconds a JWKS fetch may take. Default 5000. */
  timeoutDuration?: number
  /** Seconds of clock skew tolerated on `exp` / `iat` / `nbf`. Default 5 (Bastion's own). */
  clockTolerance?: number
  /**
   * Plain `http:` JWKS URLs are refused unless the host is loopback: whoever can
   * change the keys in transit can mint tokens this service accepts. Default false.
   */
  allowInsecureJwksUrl?: boolean
  /** Clock for `exp` checks (tests share Bastion's). Default Date.now. */
  now?: () => number
}

/** The claims a verified Bastion access token carries (RFC 9068, plus Bastion's `sid`). */
export interface VerifiedClaims extends JWTPayload {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  jti: string
  client_id?: string
  sid?: string
  preferred_username?: string
}

export interface Verifier {
  /** Resolves the claims or throws a ServiceError (`unauthenticated`, `token_expired`, `unavailable`). */
  verify(token: string): Promise<VerifiedClaims>
  /** The last JWKS fetched and when (ms since epoch); `undefined` before the first fetch. */
  readonly cache: Readonly<Partial<ExportedJWKSCache>>
}

/** The algorithms Bastion signs with. Pinned: never `none`, never HS256 keyed with a public key. */
export const ALGORITHMS = ['EdDSA', 'ES256']

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** Thrown by the key resolver when no key can be had: the JWKS is unreachable (or still cooling down) for this `kid`. */
class KeysUnavailable extends Error {
  constructor(readonly retryAfter: number | undefined) {
    super('keys unavailable')
  }
}

/** Errors that mean "the JWKS answered and has no (single) key for this header": the token's fault, not the network's. */
const isKeySelectionError = (e: unknown): boolean =>
  e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys || e instanceof errors.JOSENotSupported

/**
 * Verifies Bastion access tokens with nothing but its JWKS.
 *
 * @example
 * ```ts
 * const { verify } = createVerifier({ jwksUrl: 'http://localhost:3000/.well-known/jwks.json', issuer: 'bastion', audience: 'bastion' })
 * const claims = await verify(token) // or throws ServiceError
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const url = new URL(options.jwksUrl)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`jwksUrl must be an http(s) URL, got ${url.protocol}`)
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && !options.allowInsecureJwksUrl) {
    throw new TypeError(`jwksUrl ${url.href} is plain HTTP on a host that is not loopback: serve the JWKS over HTTPS (or allow it explicitly).`)
  }
  if (!options.issuer) throw new TypeError('issuer is required (Bastion\'s "issuer" setting).')
  if (!options.audience) throw new TypeError('audience is required (Bastion\'s "audience" setting).')
  const cooldownDuration = options.cooldownDuration ?? 30_000
  const clockTolerance = options.clockTolerance ?? 5
  const now = options.now ?? Date.now

  // jose fills this object on every successful fetch: `uat` tells a fresh fetch from a cooled-down refusal.
  const cache: Partial<ExportedJWKSCache> = {}
  const remote = createRemoteJWKSet(url, {
    cooldownDuration,
    cacheMaxAge: options.cacheMaxAge ?? 600_000,
    timeoutDuration: options.timeoutDuration ?? 5_000,
    [jwksCache]: cache as ExportedJWKSCache,
  })

  const getKey: JWTVerifyGetKey = async (header, token) => {
    const fetchedBefore = cache.uat
    try {
      return await remote(header, token)
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey && cache.uat === fetchedBefore && remote.coolingDown) {
        // jose did not look: a fetch happened less than `cooldownDuration` ago. The kid may be a key
        // Bastion made since (a rotation), so "not valid" would be a lie; say "retry shortly" instead.
        throw new KeysUnavailable(Math.max(1, Math.ceil((cache.uat! + cooldownDuration - Date.now()) / 1000)))
      }
      if (isKeySelectionError(e)) throw e
      // The fetch failed (refused, timed out, not 200, not a JWKS). A key fetched before still
      // verifies: Bastion keeps every key in its JWKS until the last token it signed has expired,
      // so an outage of the JWKS need not be an outage of this service for tokens we can check.
      if (cache.jwks) {
        try {
          return await createLocalJWKSet(cache.jwks)(header, token)
        } catch (inner) {
          if (!(inner instanceof errors.JWKSNoMatchingKey)) throw inner
        }
      }
      throw new KeysUnavailable(undefined)
    }
  }

  async function verify(token: string): Promise<VerifiedClaims> {
    const invalid = new ServiceError('unauthenticated', 'The access token is not valid.')
    if (token.length > 4096) throw invalid
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms: ALGORITHMS,
        typ: 'at+jwt',
        issuer: options.issuer,
        audience: options.audience,
        // jose checks exp only when present: require it, or a token without one would never expire.
        requiredClaims: ['exp', 'iat', 'sub', 'jti'],
        clockTolerance,
        currentDate: new Date(now()),
      })
      if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid
      return payload as VerifiedClaims
    } catch (e) {
      if (e instanceof ServiceError) throw e
      if (e instanceof KeysUnavailable) throw new ServiceError('unavailable', 'The signing keys cannot be fetched right now; try again shortly.', e.retryAfter)
      if (e instanceof errors.JWTExpired) throw new ServiceError('token_expired', 'The access token has expired.')
      // Everything else is the token's fault: bad signature, alg, typ, iss, aud, a kid the fresh JWKS lacks.
      throw invalid
    }
  }

  return { verify, cache }
}
