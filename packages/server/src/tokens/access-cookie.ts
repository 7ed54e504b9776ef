import { hkdfSync } from 'node:crypto'
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose'
import { BastionError } from '../errors.ts'
import { canonicalJsonObject, hasIssuedShape } from './issued-shape.ts'

/**
 * What the `__Host-access` cookie holds: `jws`, the signed access JWT itself
 * (readable by anyone who sees the cookie, verifiable through the JWKS), or
 * `jwe`, that JWT nested in a JWE (`dir`, `A256GCM`) so the browser, its
 * extensions and any log that captures a Cookie header see no claims.
 */
export type AccessCookieFormat = 'jws' | 'jwe'

/** The keys the cookie encryption follows: the signing keyring's (see `Keyring.knows`). */
export interface CookieKeySource {
  /** Whether `kid` names a key that may still verify a live token. */
  knows(kid: string): boolean
  /** Reloads the keys when they may be stale (a rotation made by another instance). */
  reloadIfStale(): Promise<boolean>
}

export interface AccessCookieOptions {
  format: AccessCookieFormat
  /** The server secret (every instance has the same one, so every instance derives the same keys). */
  secret: string
  keys: CookieKeySource
}

/** Longest cookie value looked at; Bastion's own JWE of a ~600-character JWS is ~900 characters. */
const MAX_COOKIE_CHARS = 4096

const JWE_HEADER_MEMBERS = new Set(['alg', 'enc', 'kid', 'cty'])

/**
 * The content-encryption key for the signing key `kid`: HKDF-SHA256 of the
 * secret, salted with the kid. One encryption key per signing key means the
 * keyring's rotation rotates it too, and an old cookie keeps decrypting for
 * exactly as long as its signing key keeps verifying; nothing new is stored.
 */
export function cookieEncryptionKey(secret: string, kid: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from(kid, 'utf8'), 'bastion/access-cookie/A256GCM/v1', 32))
}

/** A cookie value of the other format than the configured one, whose token verified: the browser should refresh to get the new format. */
export class OtherFormat extends Error {
  constructor(readonly inner: string) {
    super('access cookie in the other format')
  }
}

const B64URL = /^[A-Za-z0-9_-]+$/
/** Canonical base64url (no spare bits set), so one cookie has one spelling, as for the JWS (see issued-shape.ts). */
const canonical = (segment: string) => B64URL.test(segment) && Buffer.from(segment, 'base64url').toString('base64url') === segment

const invalid = () => new BastionError('unauthenticated', 'The access token is not valid.')

/**
 * Seals access JWTs into cookie values and opens them again. With `jws` both
 * are the identity, so the default costs nothing.
 */
export class AccessCookie {
  readonly format: AccessCookieFormat
  private readonly secret: string
  private readonly keys: CookieKeySource
  /** Derived keys by kid: only kids the keyring knows get in, so the map is as small as the keyring. */
  private readonly derived = new Map<string, Uint8Array>()

  constructor(options: AccessCookieOptions) {
    this.format = options.format
    this.secret = options.secret
    this.keys = options.keys
  }

  private keyFor(kid: string): Uint8Array {
    let key = this.derived.get(kid)
    if (!key) {
      if (this.derived.size >= 64) this.derived.clear()
      key = cookieEncryptionKey(this.secret, kid)
      this.derived.set(kid, key)
    }
    return key
  }

  /** The cookie value for a signed access token. */
  async seal(jws: string): Promise<string> {
    if (this.format === 'jws') return jws
    const { kid } = decodeProtectedHeader(jws)
    if (typeof kid !== 'string') throw new Error('an access token without kid cannot be sealed')
    return new CompactEncrypt(new TextEncoder().encode(jws))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, cty: 'JWT' })
      .encrypt(this.keyFor(kid))
  }

  /**
   * The signed access token inside a cookie value (its signature and claims
   * still to be verified). Throws `unauthenticated` for anything that is not
   * a cookie this server (or a peer with the same secret) sealed, and
   * `OtherFormat` for a well-formed value of the format not configured (a
   * cookie set before the format changed: the caller verifies it and asks for
   * a refresh, never accepts it).
   */
  async open(value: string): Promise<string> {
    if (value.length > MAX_COOKIE_CHARS) throw invalid()
    const segments = value.split('.').length
    if (segments === 3) {
      if (this.format === 'jws') return value
      throw new OtherFormat(value)
    }
    if (segments !== 5) throw invalid()
    const inner = await this.decrypt(value)
    if (this.format === 'jwe') return inner
    throw new OtherFormat(inner)
  }

  private async decrypt(value: string): Promise<string> {
    const [h, encryptedKey, iv, ciphertext, tag] = value.split('.') as [string, string, string, string, string]
    const header = canonicalJsonObject(h)
    // `dir` has no encrypted key; a header member we do not write (`zip`, `crit`, `jku`, `epk`…) is refused, never interpreted.
    if (!header || encryptedKey !== '' || !canonical(iv) || !canonical(ciphertext) || !canonical(tag)) throw invalid()
    if (!Object.keys(header).every((k) => JWE_HEADER_MEMBERS.has(k))) throw invalid()
    if (header.alg !== 'dir' || header.enc !== 'A256GCM' || header.cty !== 'JWT' || typeof header.kid !== 'string') throw invalid()
    const kid = header.kid
    if (kid.length > 64) throw invalid()
    if (!this.keys.knows(kid)) {
      // A key made by another instance since our last look.
      await this.keys.reloadIfStale()
      if (!this.keys.knows(kid)) throw invalid()
    }
    let plaintext: Uint8Array
    try {
      ;({ plaintext } = await compactDecrypt(value, this.keyFor(kid), {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      }))
    } catch {
      throw invalid()
    }
    const inner = new TextDecoder('utf-8', { fatal: false }).decode(plaintext)
    // The nested token must be the JWS Bastion issues, signed with the key that names this encryption key.
    if (!hasIssuedShape(inner)) throw invalid()
    if (decodeProtectedHeader(inner).kid !== kid) throw invalid()
    return inner
  }
}
