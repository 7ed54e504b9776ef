import { hmac, randomToken, sha256 } from './crypto/encoding.ts'

/**
 * Refresh tokens are `<sessionId>.<secret>`. The session id lets the CSRF
 * check run before the rotation; the secret part is what the store keeps,
 * hashed. A successor is an HMAC of its predecessor under a server key, so
 * during the grace window a replayed predecessor yields the very same
 * successor without the raw successor ever being stored — and nobody
 * without the key can compute it.
 */
export const newSessionId = (): string => randomToken(18)

export const newRefreshToken = (sessionId: string): string => `${sessionId}.${randomToken(32)}`

export function successorOf(key: Uint8Array, refreshToken: string, sessionId: string): string {
  return `${sessionId}.${hmac(key, `refresh-successor:${refreshToken}`).toString('base64url')}`
}

export const hashRefreshToken = (token: string): string => sha256(token)

const REFRESH_RE = /^([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/

/** The session id a well-formed refresh token names, or null. */
export function refreshTokenSession(token: string): string | null {
  return REFRESH_RE.exec(token)?.[1] ?? null
}

const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{2,63}$/

/** Usernames compare case-insensitively and by compatibility form, so `Alice` and `ａlice` are one account. */
export function normalizeUsername(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase()
}

export const isValidUsername = (username: string): boolean => USERNAME_RE.test(username)
