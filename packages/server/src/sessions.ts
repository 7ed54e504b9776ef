import { hmacBase64url, randomToken, safeEqual, sha256 } from './crypto/encoding.ts'

/**
 * Refresh tokens are `<sessionId>.<generation>.<mac>`, where the MAC is an
 * HMAC, under a server key, of the session id, the session's random salt and
 * the generation. So:
 *
 * - any token a session ever had proves itself later without being stored:
 *   the store keeps one generation number per session, whatever the number of
 *   refreshes, and a replay of a genuine older generation is recognised (and
 *   revokes the session);
 * - a token that merely names a real session (its id is a public handle, in
 *   logs and in `GET /auth/sessions`) fails the MAC and changes nothing: no
 *   way to sign someone out by guessing;
 * - the successor of generation g is the token of g + 1: during the grace a
 *   replayed predecessor yields the very same successor, computed, not kept;
 * - forging one needs both the server secret and the salt in the store.
 *
 * Sessions made before this format hold legacy tokens `<sessionId>.<random>`
 * whose hashes the store kept; their next refresh moves them to this format.
 */
export const newSessionId = (): string => randomToken(18)

export const newTokenSalt = (): string => randomToken(16)

const tokenMac = (key: Uint8Array, sessionId: string, salt: string, generation: number): string =>
  hmacBase64url(key, `refresh:${sessionId}:${salt}:${generation}`)

/** The refresh token of one generation of a session. */
export function refreshTokenFor(key: Uint8Array, sessionId: string, salt: string, generation: number): string {
  return `${sessionId}.${generation}.${tokenMac(key, sessionId, salt, generation)}`
}

export type ParsedRefreshToken =
  | { format: 'generation'; sessionId: string; generation: number; mac: string }
  | { format: 'legacy'; sessionId: string; hash: string }

const TOKEN_RE = /^([A-Za-z0-9_-]{24})\.(0|[1-9][0-9]{0,8})\.([A-Za-z0-9_-]{43})$/
const LEGACY_RE = /^([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/

/** The parts of a well-formed refresh token, or null. Says nothing of its validity. */
export function parseRefreshToken(token: string): ParsedRefreshToken | null {
  const m = TOKEN_RE.exec(token)
  if (m) return { format: 'generation', sessionId: m[1]!, generation: Number(m[2]), mac: m[3]! }
  const legacy = LEGACY_RE.exec(token)
  return legacy ? { format: 'legacy', sessionId: legacy[1]!, hash: sha256(token) } : null
}

/** Whether a generation token's MAC is the one this session's salt gives (constant time). */
export function verifyRefreshMac(key: Uint8Array, token: { sessionId: string; generation: number; mac: string }, salt: string): boolean {
  return safeEqual(token.mac, tokenMac(key, token.sessionId, salt, token.generation))
}

/** The session id a well-formed refresh token names, or null. */
export function refreshTokenSession(token: string): string | null {
  return parseRefreshToken(token)?.sessionId ?? null
}

const USERNAME_RE = /^[a-z0-9][a-z0-9._-]{2,63}$/

/** Usernames compare case-insensitively and by compatibility form, so `Alice` and `ａlice` are one account. */
export function normalizeUsername(raw: string): string {
  return raw.normalize('NFKC').trim().toLowerCase()
}

export const isValidUsername = (username: string): boolean => USERNAME_RE.test(username)

/**
 * The successor the legacy format gave a legacy token: an HMAC of it. Only
 * for a legacy session still inside the grace of its last legacy rotation;
 * its next refresh moves it to the generation format.
 */
export function legacySuccessorOf(key: Uint8Array, refreshToken: string, sessionId: string): string {
  return `${sessionId}.${hmacBase64url(key, `refresh-successor:${refreshToken}`)}`
}
