import { signAccessToken } from '../tokens/jws.ts'
import type { Keyring } from '../keys/keyring.ts'
import type { AccessClaims } from '../tokens/access-token.ts'

export interface GatewayTokenOptions {
  issuer: string
  /** The upstream's `aud`: a token minted for one upstream is refused by any other (and by Bastion itself). */
  audience: string
  /** Seconds, at most 60. */
  ttl: number
  now: () => number
  /** Sessions whose current token is kept for reuse. Default 10000. */
  cacheSize?: number
}

/**
 * The bearer tokens the gateway forwards upstream: RFC 9068 access tokens
 * signed by Bastion's keyring (so the upstream verifies them by the JWKS
 * alone), bound to one audience, living at most `ttl` seconds and never past
 * the browser's own access token. A session's token is reused while more
 * than half its life is left, so a busy page costs one signature per half
 * minute, not one per request.
 */
export class GatewayTokens {
  private readonly cache = new Map<string, { token: string; exp: number; kid: string }>()
  private readonly cacheSize: number

  constructor(
    private readonly keyring: Keyring,
    private readonly options: GatewayTokenOptions,
  ) {
    this.cacheSize = options.cacheSize ?? 10_000
  }

  async tokenFor(claims: AccessClaims): Promise<string> {
    const nowSeconds = Math.floor(this.options.now() / 1000)
    const signer = this.keyring.signingKey()
    const { kid } = signer
    const cacheKey = `${claims.sid}\u0000${claims.sub}\u0000${claims.exp}`
    const hit = this.cache.get(cacheKey)
    // Reused only while signed by the current key and more than half its life remains.
    if (hit && hit.kid === kid && hit.exp - nowSeconds > this.options.ttl / 2) return hit.token
    const exp = Math.min(nowSeconds + this.options.ttl, claims.exp)
    const token = signAccessToken(signer, {
      issuer: this.options.issuer,
      audience: this.options.audience,
      subject: claims.sub,
      sessionId: claims.sid,
      username: claims.preferred_username,
      clientId: 'bastion-gateway',
      issuedAt: nowSeconds,
      expiresAt: exp,
    })
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    this.cache.delete(cacheKey)
    this.cache.set(cacheKey, { token, exp, kid })
    return token
  }
}
