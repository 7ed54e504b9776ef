/**
 * The whole storage contract. Every rule (lifetimes, grace, who may do what)
 * lives in the core; a store only keeps records and performs the one
 * compound operation that must be atomic: the refresh rotation.
 * All times are milliseconds since the epoch.
 */
export interface UserRecord {
  id: string
  username: string
  /** Argon2id hash, or `NO_PASSWORD` for an account made by a provider sign-in (no password can match it). */
  passwordHash: string
  createdAt: number
}

/** The `passwordHash` of an account that has no password (created by a provider sign-in). */
export const NO_PASSWORD = ''

/**
 * How a session signed in: `'password'`, or `'oauth:<provider id>'`.
 * Shown by `GET /auth/sessions`.
 */
export type SessionMethod = 'password' | `oauth:${string}`

/**
 * A provider account (`provider` id + the provider's stable `sub`) linked to a
 * local user. One provider account belongs to at most one user.
 */
export interface IdentityRecord {
  provider: string
  subject: string
  userId: string
  /** The e-mail the provider reported at link time, for display; never used to find a user. */
  email: string | null
  emailVerified: boolean
  createdAt: number
}

export type SessionKind = 'cookie' | 'bearer'

export interface SessionRecord {
  id: string
  userId: string
  kind: SessionKind
  createdAt: number
  lastUsedAt: number
  /** Absolute end of the session, whatever its activity. */
  expiresAt: number
  /** End of the current refresh token's life (idle timeout); moves on each rotation. */
  refreshExpiresAt: number
  userAgent: string | null
  ip: string | null
  revokedAt: number | null
  revokedReason: string | null
  /** Generation of the current refresh token (0 for the first). */
  generation: number
  /**
   * Per-session salt of the refresh-token MAC (see `sessions.ts`): with the
   * server secret it proves any generation of this session's tokens, so none
   * needs to be stored. Null for a session made before this format, until its
   * next refresh moves it.
   */
  tokenSalt: string | null
  /** When the current generation was issued by a rotation (null before the first): the start of the previous token's grace. */
  rotatedAt: number | null
  /**
   * RFC 7638 thumbprint of the device key the session is bound to (DPoP), or
   * null for an unbound session. A refresh must then carry a proof by that key.
   */
  dpopJkt: string | null
  method: SessionMethod
}

export interface NewSession {
  id: string
  userId: string
  kind: SessionKind
  now: number
  expiresAt: number
  refreshExpiresAt: number
  userAgent: string | null
  ip: string | null
  /** Salt of the session's refresh-token MAC; no token is stored. */
  tokenSalt: string
  /** Thumbprint of the device key that proved possession at the start; absent or null: unbound. */
  dpopJkt?: string | null
  /** How the session signed in. Default: `'password'`. */
  method?: SessionMethod
}

/**
 * A refresh token presented for rotation, already checked by the core: a
 * generation whose MAC verified, or (for a session made before the
 * generation format) the SHA-256 of a legacy random token.
 */
export type PresentedRefresh = { generation: number } | { legacyHash: string }

export interface RotateRefreshInput {
  sessionId: string
  presented: PresentedRefresh
  now: number
  /** How long after a rotation the immediately previous token still yields the same successor. */
  graceMs: number
  /** New idle deadline, capped by the core at the session's absolute end. */
  refreshExpiresAt: (session: SessionRecord) => number
  /** Set on a legacy session as it rotates into the generation format (it keeps its salt from then on). */
  tokenSalt: string
  /**
   * The session as the caller read it just before (`findSession`). A store may
   * start its compare-and-set from it instead of reading again (one read, or
   * one round trip, fewer per refresh); it must still refuse, or read again,
   * if the session moved on or was revoked since.
   */
  seen?: SessionRecord
}

export type RotationOutcome =
  /**
   * The presented token was current: the successor is now current. `owner` is
   * the session's user, read with the rotation (null: the account is gone), so
   * a refresh needs no second read to sign its access token.
   */
  | { kind: 'rotated'; session: SessionRecord; owner: UserRecord | null }
  /** The presented token was rotated less than `graceMs` ago: its successor is still current. */
  | { kind: 'grace'; session: SessionRecord; owner: UserRecord | null }
  /** The presented token was rotated before and is replayed: the session is now revoked. */
  | { kind: 'reused'; session: SessionRecord }
  /** Unknown session or token, a generation never issued, or the session is revoked or expired: nothing changed. */
  | { kind: 'invalid'; session: SessionRecord | null }

export interface KeyRecord {
  kid: string
  alg: string
  publicJwk: string
  /** The private JWK, sealed with a key derived from the configured secret. */
  sealedPrivateJwk: string
  createdAt: number
  /** When it stopped signing; it keeps verifying until its last token expires. */
  retiredAt: number | null
}

export interface Store {
  /** Applies pending migrations. Safe to call from many instances at once. */
  migrate(): Promise<void>

  createUser(user: UserRecord): Promise<void>
  findUserByUsername(username: string): Promise<UserRecord | null>
  findUserById(id: string): Promise<UserRecord | null>
  setPasswordHash(userId: string, passwordHash: string): Promise<void>

  /** The user a provider account is linked to, or null. */
  findIdentity(provider: string, subject: string): Promise<IdentityRecord | null>
  /**
   * Atomic: the user and its first provider account in one transaction. A
   * taken username or an already linked provider account throws
   * StoreConflictError and creates nothing.
   */
  createUserWithIdentity(user: UserRecord, identity: IdentityRecord): Promise<void>
  /** Links a provider account to an existing user; StoreConflictError if it is already linked (to anyone). */
  linkIdentity(identity: IdentityRecord): Promise<void>
  /** The provider accounts linked to a user, oldest first. */
  listIdentities(userId: string): Promise<IdentityRecord[]>

  createSession(session: NewSession): Promise<SessionRecord>
  /** A session made before the last `revokeAllSessions` answers as revoked (reason `revoked_all`). */
  findSession(id: string): Promise<SessionRecord | null>
  /** Sessions not revoked whose absolute and idle ends are after `now`. */
  listLiveSessions(userId: string, now: number): Promise<SessionRecord[]>
  /**
   * Atomic: one transaction or one compare-and-set. The presented generation
   * is the current one: rotated. The previous one within the grace: grace.
   * Any older one: reused (the session is revoked). A later one: invalid.
   * Nothing per token is stored: the session row holds the generation.
   */
  rotateRefresh(input: RotateRefreshInput): Promise<RotationOutcome>
  /** Returns false if it was already revoked or does not exist. */
  revokeSession(id: string, reason: string, now: number): Promise<boolean>
  /** Revokes every live session of the user but `exceptId`; returns the ids revoked. */
  revokeUserSessions(userId: string, reason: string, now: number, exceptId?: string): Promise<string[]>
  /** Ids of sessions revoked at or after `since`, to seed an instance's revocation list. */
  revokedSince(since: number): Promise<string[]>
  /**
   * Every session made before `notBefore` ends, as one write (not one per
   * session): they answer as revoked from then on, and their access tokens
   * are refused by every instance once it reads `sessionsNotBefore`.
   */
  revokeAllSessions(notBefore: number): Promise<void>
  /** The last `revokeAllSessions` bound, or 0. */
  sessionsNotBefore(): Promise<number>

  listKeys(): Promise<KeyRecord[]>
  insertKey(key: KeyRecord): Promise<void>
  retireKey(kid: string, at: number): Promise<void>

  close(): Promise<void>
}

/** Fixed-window counters; a store shared by every instance makes limits hold across them. */
export interface RateLimitStore {
  /** Counts one hit on `key` in the window containing `now`; returns the count so far and when the window ends. */
  hit(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>
  /** The current count, without counting (for monitoring and tests). */
  peek(key: string, windowMs: number, now: number): Promise<{ count: number; resetAt: number }>
  reset(key: string): Promise<void>
}

/**
 * Carries revocations to every instance so that access tokens of a revoked
 * session stop working everywhere without a store read per request.
 */
export interface RevocationBus {
  publish(sessionIds: string[]): Promise<void>
  /** Returns a function that stops the subscription. */
  subscribe(listener: (sessionIds: string[]) => void): Promise<() => Promise<void>>
  /** Whether messages are being received now; while not, instances poll the store more often. Default: always. */
  connected?(): boolean
  close(): Promise<void>
}
