import { CompactEncrypt, compactDecrypt } from 'jose'

/**
 * What a provider sign-in must remember between `POST /auth/oauth/:provider`
 * and its callback, kept in the browser in one cookie that only this server
 * can read or make (JWE `dir` + `A256GCM`: confidential, so the PKCE verifier
 * never leaks, and authenticated, so nothing in it can be forged or edited).
 */
export interface OAuthState {
  /** Provider the flow was started for: the callback of any other provider refuses it (mix-up). */
  provider: string
  /** The `state` sent to the provider; compared in constant time with the one it sends back. */
  state: string
  /** PKCE `S256` code verifier. */
  codeVerifier: string
  /** OIDC `nonce`, checked in the ID token. */
  nonce: string
  /** Same-origin path to land on. */
  returnTo: string
  /** Set when a signed-in user asked to link this provider to their account: that user's id. */
  linkUserId: string | null
  /** Hash of the browser's CSRF cookie (pre-session or session) when the flow started. */
  binding: string
  /**
   * Thumbprint of the device key the browser proved at the start (DPoP), or
   * null: the callback is a top-level navigation and cannot carry a proof, so
   * the session it starts is bound to the key that started the flow.
   */
  dpopJkt: string | null
  /** Milliseconds since the epoch after which the cookie is refused. */
  expiresAt: number
}

const TYP = 'bastion-oauth+jwe'

export async function sealState(key: Uint8Array, state: OAuthState): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(state)))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', typ: TYP })
    .encrypt(key)
}

const isString = (v: unknown): v is string => typeof v === 'string'

/** The state, or null if the cookie is malformed, forged, made with another key, or expired. Never throws. */
export async function openState(key: Uint8Array, sealed: string, now: number): Promise<OAuthState | null> {
  if (sealed.length > 4096) return null
  let parsed: unknown
  try {
    const { plaintext, protectedHeader } = await compactDecrypt(sealed, key, {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    })
    if (protectedHeader.typ !== TYP) return null
    parsed = JSON.parse(new TextDecoder().decode(plaintext))
  } catch {
    return null
  }
  if (typeof parsed !== 'object' || parsed === null) return null
  const s = parsed as Record<string, unknown>
  if (![s.provider, s.state, s.codeVerifier, s.nonce, s.returnTo, s.binding].every(isString)) return null
  if (!(s.linkUserId === null || isString(s.linkUserId))) return null
  if (!(s.dpopJkt === null || isString(s.dpopJkt))) return null
  if (typeof s.expiresAt !== 'number' || !(now < s.expiresAt)) return null
  return s as unknown as OAuthState
}
