import { hmacBase64url, randomBuffer, randomToken, safeEqual } from '../crypto/encoding.ts'

/**
 * Signed double-submit CSRF tokens (OWASP "signed double-submit cookie").
 *
 * A token is `<kind>.<nonce>.<mac>`: the MAC binds the nonce to a session id
 * (kind `s`) or marks it a pre-session token (kind `p`, before login). A
 * token minted for another session, tossed in from a sibling subdomain, or
 * forged without the server key fails the MAC. The kind letter is only a
 * hint (it says "this browser believes it is signed in"); the MAC decides.
 */
export type CsrfBinding = { kind: 'pre' } | { kind: 'session'; sessionId: string }

const KIND_LETTER = { pre: 'p', session: 's' } as const
const TOKEN_RE = /^[ps]\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/
const MASKED_PREFIX = 'm.'

function mac(key: Uint8Array, binding: CsrfBinding, nonce: string): string {
  const subject = binding.kind === 'pre' ? 'pre' : `session:${binding.sessionId}`
  return hmacBase64url(key, `csrf:${subject}:${nonce}`)
}

export function mintCsrfToken(key: Uint8Array, binding: CsrfBinding): string {
  const nonce = randomToken(16)
  return `${KIND_LETTER[binding.kind]}.${nonce}.${mac(key, binding, nonce)}`
}

export function isWellFormed(token: string): boolean {
  return TOKEN_RE.test(token)
}

/** True when the token was minted by this server for exactly this binding. */
export function verifyCsrfToken(key: Uint8Array, token: string, binding: CsrfBinding): boolean {
  if (!isWellFormed(token)) return false
  const [letter, nonce, given] = token.split('.') as [string, string, string]
  if (letter !== KIND_LETTER[binding.kind]) return false
  return safeEqual(given, mac(key, binding, nonce))
}

export const claimsSession = (token: string): boolean => token.startsWith('s.')

/**
 * BREACH: a secret reflected unchanged in compressed responses can be read
 * byte by byte. Each body gets the token XORed with a fresh one-time pad.
 */
export function maskToken(token: string): string {
  const raw = Buffer.from(token, 'utf8')
  const pad = randomBuffer(raw.length)
  const out = Buffer.alloc(raw.length)
  for (let i = 0; i < raw.length; i++) out[i] = raw[i]! ^ pad[i]!
  return MASKED_PREFIX + Buffer.concat([pad, out]).toString('base64url')
}

/** Accepts a raw token (as read from the cookie) or a masked one (from a body). */
export function unmaskToken(value: string): string | null {
  if (!value.startsWith(MASKED_PREFIX)) return value
  const bytes = Buffer.from(value.slice(MASKED_PREFIX.length), 'base64url')
  if (bytes.length === 0 || bytes.length % 2 !== 0 || bytes.length > 256) return null
  const half = bytes.length / 2
  const out = Buffer.alloc(half)
  for (let i = 0; i < half; i++) out[i] = bytes[i]! ^ bytes[half + i]!
  return out.toString('utf8')
}
