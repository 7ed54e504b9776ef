import { decodeProtectedHeader, errors, jwtVerify } from 'jose'
import { signAccessToken } from './jws.ts'
import { BastionError } from '../errors.ts'
import { ALLOWED_ALGORITHMS, type Keyring } from '../keys/keyring.ts'
import { AccessCookie, OtherFormat } from './access-cookie.ts'
import { hasIssuedShape } from './issued-shape.ts'

/** The claims Bastion puts in an access token (RFC 9068, plus the session id). */
export interface AccessClaims {
  iss: string
  sub: string
  aud: string
  exp: number
  iat: number
  jti: string
  client_id: string
  /** Session id: what revocation acts on. */
  sid: string
  preferred_username: string
}

export interface AccessTokenOptions {
  issuer: string
  audience: string
  /** Seconds. */
  ttl: number
  now: () => number
  /** Verified tokens kept, keyed by the whole token. Default 10000. */
  cacheSize?: number
  /** What the access cookie holds: the JWS itself, or a JWE around it (see `AccessCookie`). Default: the JWS, and a JWE is not opened. */
  cookie?: AccessCookie
}

const CLOCK_TOLERANCE = 5

/**
 * Characters of a token's end (its signature) that index the cache. Hashing a
 * whole ~550-character token for a Map lookup costs ~0.8 µs per request
 * (V8 hashes every character of a fresh string); its last 32 characters are
 * random signature bytes, and a hit is confirmed by comparing the whole token.
 */
const CACHE_INDEX_CHARS = 32
const cacheIndex = (token: string) => token.slice(-CACHE_INDEX_CHARS)

/**
 * Issues and verifies access JWTs. Verification is the hot path: a token seen
 * before is answered from a bounded map of verified tokens (indexed by the
 * signature's end, a hit only when the whole token is identical: no
 * signature check, no async hop); only its expiry is re-checked.
 */
/** A freshly signed access token and when it expires (ms since the epoch). */
export interface SignedAccessToken {
  /** The signed JWT: what a bearer client gets. */
  token: string
  /** The access cookie's value for it: the same JWS, or (format `jwe`) a JWE around it. */
  cookie: string
  expiresAt: number
}

export class AccessTokens {
  private readonly cache = new Map<string, { token: string; claims: AccessClaims }>()
  private readonly cacheSize: number
  private readonly cookie: AccessCookie | null

  constructor(
    private readonly keyring: Keyring,
    private readonly options: AccessTokenOptions,
  ) {
    this.cacheSize = options.cacheSize ?? 10_000
    this.cookie = options.cookie ?? null
  }

  async sign(subject: { userId: string; username: string; sessionId: string; clientId: string }): Promise<SignedAccessToken> {
    const iat = Math.floor(this.options.now() / 1000)
    const exp = iat + this.options.ttl
    const token = signAccessToken(this.keyring.signingKey(), {
      issuer: this.options.issuer,
      audience: this.options.audience,
      subject: subject.userId,
      sessionId: subject.sessionId,
      username: subject.username,
      clientId: subject.clientId,
      issuedAt: iat,
      expiresAt: exp,
    })
    return { token, cookie: await this.cookieValue(token), expiresAt: exp * 1000 }
  }

  /** Synchronous answer for a token verified before, or undefined. */
  cached(token: string): AccessClaims | 'expired' | undefined {
    const index = cacheIndex(token)
    const entry = this.cache.get(index)
    // The whole token must match: the index alone proves nothing.
    if (entry === undefined || entry.token !== token) return undefined
    const claims = entry.claims
    if (claims.exp + CLOCK_TOLERANCE <= this.options.now() / 1000) {
      this.cache.delete(index)
      return 'expired'
    }
    return claims
  }

  /** A bearer token (always a JWS). Throws `token_expired` or `unauthenticated`. */
  async verify(token: string): Promise<AccessClaims> {
    const hit = this.cached(token)
    if (hit === 'expired') throw new BastionError('token_expired', 'The access token has expired.')
    if (hit) return hit
    const claims = await this.verifySigned(token)
    this.remember(token, claims)
    return claims
  }

  /**
   * The access cookie's value: the JWS itself, or (format `jwe`) the JWE
   * around it, cached by the whole cookie value, so a hit costs what a JWS hit
   * costs. A cookie of the other format (set before the format changed) whose
   * token verifies answers `token_expired`: the browser refreshes and gets the
   * configured format; it is never accepted as is.
   */
  async verifyCookie(value: string): Promise<AccessClaims> {
    if (this.cookie === null) return this.verify(value)
    const hit = this.cached(value)
    if (hit === 'expired') throw new BastionError('token_expired', 'The access token has expired.')
    if (hit) return hit
    let inner: string
    try {
      inner = await this.cookie.open(value)
    } catch (e) {
      if (!(e instanceof OtherFormat)) throw e
      await this.verifySigned(e.inner)
      throw new BastionError('token_expired', 'The access cookie has an old format; refresh.')
    }
    const claims = await this.verifySigned(inner)
    this.remember(value, claims)
    return claims
  }

  /** The cookie value for a token `sign` made (the token itself unless the format is `jwe`). */
  async cookieValue(token: string): Promise<string> {
    return this.cookie === null ? token : this.cookie.seal(token)
  }

  private async verifySigned(token: string): Promise<AccessClaims> {
    if (token.length > 4096 || !hasIssuedShape(token)) throw new BastionError('unauthenticated', 'The access token is not valid.')
    let header: { kid?: string; alg?: string }
    try {
      header = decodeProtectedHeader(token)
    } catch {
      throw new BastionError('unauthenticated', 'The access token is not valid.')
    }
    if (!this.keyring.verificationKey(header.kid, header.alg)) {
      // A key made by another instance since our last look.
      await this.keyring.reloadIfStale()
    }
    let payload: unknown
    try {
      const result = await jwtVerify(
        token,
        (h) => {
          const key = this.keyring.verificationKey(h.kid, h.alg)
          if (!key) throw new errors.JWKSNoMatchingKey()
          return key
        },
        {
          algorithms: [...ALLOWED_ALGORITHMS],
          typ: 'at+jwt',
          issuer: this.options.issuer,
          audience: this.options.audience,
          requiredClaims: ['exp', 'iat', 'sub', 'jti', 'sid'],
          clockTolerance: CLOCK_TOLERANCE,
          currentDate: new Date(this.options.now()),
        },
      )
      payload = result.payload
    } catch (e) {
      if (e instanceof errors.JWTExpired) throw new BastionError('token_expired', 'The access token has expired.')
      throw new BastionError('unauthenticated', 'The access token is not valid.')
    }
    const claims = payload as AccessClaims
    if (typeof claims.sid !== 'string' || typeof claims.sub !== 'string') {
      throw new BastionError('unauthenticated', 'The access token is not valid.')
    }
    return claims
  }

  private remember(token: string, claims: AccessClaims): void {
    if (this.cache.size >= this.cacheSize) {
      // Oldest first (Map keeps insertion order): a bounded cache, never a memory leak.
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    this.cache.set(cacheIndex(token), { token, claims })
  }
}
