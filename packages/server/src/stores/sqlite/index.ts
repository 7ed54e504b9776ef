/**
 * The default store: one SQLite file, shared by every process on the host.
 * It runs on Node's built-in `node:sqlite` (Node 24+) or on `better-sqlite3`
 * (Node 20 and 22): the same file, the same durability, the same behaviour
 * (driver.ts is the seam between the two).
 *
 * @example
 * ```ts
 * const store = sqliteStore({ file: './data/bastion.db' })
 * await store.migrate()
 * store.driver // 'node:sqlite' | 'better-sqlite3'
 * ```
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { StoreConflictError, StoreUnavailableError } from '../../errors.ts'
import type {
  IdentityRecord,
  KeyRecord,
  NewSession,
  RateLimitStore,
  RotateRefreshInput,
  RotationOutcome,
  SessionMethod,
  SessionRecord,
  Store,
  UserRecord,
} from '../../store.ts'
import { resolveSqliteDriver, type SqliteDatabase, type SqliteDriver, type SqliteDriverName, type SqliteStatement } from './driver.ts'
import { groupCommit } from './group-commit.ts'
import { migrations } from './migrations.ts'

export {
  availableSqliteDrivers,
  openSqlite,
  resolveSqliteDriver,
  sqliteDriverFromEnv,
  SQLITE_DRIVERS,
  type SqliteDatabase,
  type SqliteDriver,
  type SqliteDriverName,
  type SqliteErrorKind,
  type SqliteOpenOptions,
  type SqliteRow,
  type SqliteRunResult,
  type SqliteStatement,
  type SqliteValue,
} from './driver.ts'

export interface SqliteStoreOptions {
  /** Path of the database file (its directory is created), or `':memory:'`. */
  file: string
  /**
   * Which SQLite library to run on (`BASTION_SQLITE_DRIVER` with
   * `storeFromEnv`). Default: `node:sqlite` on Node 24+; on Node 20/22 the
   * `better-sqlite3` addon, else `node:sqlite` where Node has it (22.13+).
   * One asked for that cannot load stops the start with a ConfigError.
   */
  driver?: SqliteDriverName
  /**
   * Refresh rotations asked for in the same turn of the event loop share one
   * transaction, so one fsync (each still in its own savepoint, none
   * acknowledged before the commit). Default `true`; `false` commits each
   * rotation alone (what the bench compares against).
   */
  groupCommit?: boolean
}

export type SqliteStore = Store & {
  rateLimits: RateLimitStore
  /** The SQLite library this store runs on, for log lines and the bench. */
  readonly driver: SqliteDriverName
  /**
   * Deletes sessions whose absolute and idle ends are both more than a day
   * before `now`, in batches of a few thousand (each its own transaction, the
   * event loop served between them), and rate-limit windows that have ended.
   * Returns how many sessions were deleted.
   */
  prune(now: number): Promise<number>
}

const DAY_MS = 24 * 60 * 60 * 1000

interface SessionRow {
  id: string
  user_id: string
  kind: 'cookie' | 'bearer'
  created_at: number
  last_used_at: number
  expires_at: number
  refresh_expires_at: number
  user_agent: string | null
  ip: string | null
  revoked_at: number | null
  revoked_reason: string | null
  generation: number
  token_salt: string | null
  dpop_jkt: string | null
  rotated_at: number | null
  method: SessionMethod
  /** From revocation_epoch, joined in every session read. */
  not_before: number
}

interface IdentityRow {
  provider: string
  subject: string
  user_id: string
  email: string | null
  email_verified: number
  created_at: number
}

const toIdentity = (r: IdentityRow): IdentityRecord => ({
  provider: r.provider,
  subject: r.subject,
  userId: r.user_id,
  email: r.email,
  emailVerified: r.email_verified === 1,
  createdAt: r.created_at,
})

interface UserRow {
  id: string
  username: string
  password_hash: string
  created_at: number
}

interface KeyRow {
  kid: string
  alg: string
  public_jwk: string
  sealed_private_jwk: string
  created_at: number
  retired_at: number | null
}

interface LegacyTokenRow {
  generation: number
  rotated_at: number | null
}

/** Every session read joins the revocation epoch: a session made before it answers as revoked. */
const SESSION_SELECT = 'SELECT s.*, e.sessions_not_before AS not_before FROM sessions s CROSS JOIN revocation_epoch e'

const toSession = (r: SessionRow): SessionRecord => {
  const revokedAll = r.revoked_at === null && r.created_at < r.not_before
  return {
    id: r.id,
    userId: r.user_id,
    kind: r.kind,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
    refreshExpiresAt: r.refresh_expires_at,
    userAgent: r.user_agent,
    ip: r.ip,
    revokedAt: revokedAll ? r.not_before : r.revoked_at,
    revokedReason: revokedAll ? 'revoked_all' : r.revoked_reason,
    generation: r.generation,
    tokenSalt: r.token_salt,
    rotatedAt: r.rotated_at,
    dpopJkt: r.dpop_jkt ?? null,
    method: r.method,
  }
}

/** Sessions deleted per transaction by prune: a batch takes milliseconds, and other work runs between batches. */
const PRUNE_BATCH = 2_000

const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
})

const toKey = (r: KeyRow): KeyRecord => ({
  kid: r.kid,
  alg: r.alg,
  publicJwk: r.public_jwk,
  sealedPrivateJwk: r.sealed_private_jwk,
  createdAt: r.created_at,
  retiredAt: r.retired_at,
})

/** Turns driver errors into the store's error vocabulary; anything else (a bug, a ConfigError) passes through. */
function translator(driver: SqliteDriver): (e: unknown) => unknown {
  return (e) => {
    if (e instanceof StoreConflictError || e instanceof StoreUnavailableError) return e
    switch (driver.classify(e)) {
      case 'unique':
        return new StoreConflictError((e as Error).message)
      case 'closed':
        return new StoreUnavailableError('sqlite: the store is closed', { cause: e })
      case 'constraint':
      case 'busy':
      case 'error':
        return new StoreUnavailableError(`sqlite: ${(e as Error).message}`, { cause: e })
      case null:
        return e
    }
  }
}

export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  const { file } = options
  // A driver that is missing or cannot load is a ConfigError, thrown as is: it stops the start.
  const driver = resolveSqliteDriver(options.driver)
  const translate = translator(driver)
  /** Runs a synchronous body and reports its errors as the store's errors, asynchronously. */
  const run = async <T>(body: () => T): Promise<T> => {
    try {
      return body()
    } catch (e) {
      throw translate(e)
    }
  }

  let db: SqliteDatabase
  try {
    if (file !== ':memory:' && file !== '') mkdirSync(dirname(file), { recursive: true })
    // busy_timeout 5 s, journal_mode=WAL, synchronous=FULL (a commit is on disk before it is
    // acknowledged, even if the process is killed), foreign_keys=ON: see driver.ts.
    db = driver.open(file, { busyTimeoutMs: 5000 })
  } catch (e) {
    throw translate(e)
  }

  // Statements are prepared on first use: before migrate() the tables may not exist.
  const cache = new Map<string, SqliteStatement>()
  const stmt = (sql: string): SqliteStatement => {
    let s = cache.get(sql)
    if (s === undefined) {
      s = db.prepare(sql)
      cache.set(sql, s)
    }
    return s
  }

  const getSession = (id: string): SessionRow | undefined => stmt(`${SESSION_SELECT} WHERE s.id = ?`).get<SessionRow>(id)

  const migrateTx = () => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at INTEGER NOT NULL
    )`)
    const applied = new Set(db.prepare('SELECT version FROM schema_migrations').all<{ version: number }>().map((r) => r.version))
    const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)')
    for (const m of migrations) {
      if (applied.has(m.version)) continue
      db.exec(m.sql)
      record.run(m.version, Date.now())
    }
  }

  const insertUser = (u: UserRecord) => {
    try {
      stmt('INSERT INTO users (id, username, password_hash, created_at) VALUES (?, ?, ?, ?)').run(
        u.id,
        u.username,
        u.passwordHash,
        u.createdAt,
      )
    } catch (e) {
      const kind = driver.classify(e)
      if (kind === 'unique' || kind === 'constraint') {
        throw new StoreConflictError(
          /username/.test((e as Error).message) ? `username already taken: ${u.username}` : `user already exists: ${u.id}`,
        )
      }
      throw e
    }
  }

  const insertIdentity = (i: IdentityRecord) => {
    try {
      stmt(
        'INSERT INTO identities (provider, subject, user_id, email, email_verified, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(i.provider, i.subject, i.userId, i.email, i.emailVerified ? 1 : 0, i.createdAt)
    } catch (e) {
      // 'constraint' (a user id that does not exist) passes through as the store's error.
      if (driver.classify(e) === 'unique') throw new StoreConflictError(`provider account already linked: ${i.provider}`)
      throw e
    }
  }

  const createSessionTx = (s: NewSession): SessionRecord => {
    stmt(
      `INSERT INTO sessions (id, user_id, kind, created_at, last_used_at, expires_at, refresh_expires_at,
         user_agent, ip, revoked_at, revoked_reason, generation, token_salt, rotated_at, dpop_jkt, method)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, NULL, ?, ?)`,
    ).run(s.id, s.userId, s.kind, s.now, s.now, s.expiresAt, s.refreshExpiresAt, s.userAgent, s.ip, s.tokenSalt, s.dpopJkt ?? null, s.method ?? 'password')
    return toSession(getSession(s.id)!)
  }

  const rotations = groupCommit(db)

  const userById = (id: string): UserRecord | null => {
    const r = stmt('SELECT * FROM users WHERE id = ?').get<UserRow>(id)
    return r === undefined ? null : toUser(r)
  }

  const rotateTx = (input: RotateRefreshInput): RotationOutcome => {
    const { sessionId, presented, now, graceMs, seen } = input
    // The common case, from the caller's read: the presented generation is the current one. One compare-and-set instead
    // of a read and a write; it changes nothing if the session moved on, was revoked (one by one or all at once) or
    // expired since, and then the full path below reads it again.
    if (seen !== undefined && seen.id === sessionId && 'generation' in presented && seen.tokenSalt !== null && presented.generation === seen.generation) {
      const refreshExpiresAt = input.refreshExpiresAt(seen)
      const moved = stmt(
        `UPDATE sessions SET generation = generation + 1, last_used_at = ?, refresh_expires_at = ?, rotated_at = ?
         WHERE id = ? AND generation = ? AND revoked_at IS NULL AND expires_at > ? AND refresh_expires_at > ?
           AND created_at >= (SELECT sessions_not_before FROM revocation_epoch WHERE id = 1)`,
      ).run(now, refreshExpiresAt, now, sessionId, seen.generation, now, now).changes
      if (Number(moved) === 1) {
        const session: SessionRecord = { ...seen, generation: seen.generation + 1, lastUsedAt: now, rotatedAt: now, refreshExpiresAt }
        return { kind: 'rotated', session, owner: userById(session.userId) }
      }
    }
    const row = getSession(sessionId)
    if (row === undefined) return { kind: 'invalid', session: null }
    const session = toSession(row)
    if (session.revokedAt !== null || now >= session.expiresAt || now >= session.refreshExpiresAt) {
      return { kind: 'invalid', session }
    }
    let generation: number
    let previousRotatedAt = session.rotatedAt
    if ('legacyHash' in presented) {
      const token = stmt('SELECT generation, rotated_at FROM refresh_tokens WHERE hash = ? AND session_id = ?').get<LegacyTokenRow>(
        presented.legacyHash,
        sessionId,
      )
      if (token === undefined) return { kind: 'invalid', session }
      generation = token.generation
      previousRotatedAt = token.rotated_at
    } else {
      // A legacy session never issued a generation token.
      if (session.tokenSalt === null) return { kind: 'invalid', session }
      generation = presented.generation
    }

    if (generation === session.generation) {
      const next: SessionRecord = {
        ...session,
        generation: session.generation + 1,
        lastUsedAt: now,
        rotatedAt: now,
        tokenSalt: session.tokenSalt ?? input.tokenSalt,
        refreshExpiresAt: input.refreshExpiresAt(session),
      }
      stmt('UPDATE sessions SET generation = ?, last_used_at = ?, refresh_expires_at = ?, rotated_at = ?, token_salt = ? WHERE id = ?').run(
        next.generation,
        now,
        next.refreshExpiresAt,
        now,
        next.tokenSalt,
        session.id,
      )
      // A legacy token moving to the generation format starts its grace like any rotated token.
      if ('legacyHash' in presented) stmt('UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ?').run(now, presented.legacyHash)
      return { kind: 'rotated', session: next, owner: userById(next.userId) }
    }
    if (generation > session.generation) return { kind: 'invalid', session }
    if (generation === session.generation - 1 && previousRotatedAt !== null && now - previousRotatedAt <= graceMs) {
      stmt('UPDATE sessions SET last_used_at = ? WHERE id = ?').run(now, session.id)
      const graced = { ...session, lastUsedAt: now }
      return { kind: 'grace', session: graced, owner: userById(graced.userId) }
    }
    stmt('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ?').run(now, 'refresh_token_reuse', session.id)
    return { kind: 'reused', session: { ...session, revokedAt: now, revokedReason: 'refresh_token_reuse' } }
  }

  const revokeUserTx = (userId: string, reason: string, now: number, exceptId: string | null): string[] => {
    const ids = stmt(
      `SELECT s.id FROM sessions s CROSS JOIN revocation_epoch e
       WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.refresh_expires_at > ?
         AND s.created_at >= e.sessions_not_before AND (? IS NULL OR s.id <> ?)`,
    )
      .all<{ id: string }>(userId, now, now, exceptId, exceptId)
      .map((r) => r.id)
    const revoke = stmt('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL')
    for (const id of ids) revoke.run(now, reason, id)
    return ids
  }

  /** One batch of prune; legacy refresh_tokens rows go with their session (ON DELETE CASCADE). */
  const pruneBatchTx = (cutoff: number): number =>
    Number(
      stmt(
        `DELETE FROM sessions WHERE rowid IN (
           SELECT rowid FROM sessions WHERE expires_at < ? AND refresh_expires_at < ? LIMIT ${PRUNE_BATCH})`,
      ).run(cutoff, cutoff).changes,
    )

  const windowOf = (windowMs: number, now: number): number => now - (now % windowMs)

  const rateLimits: RateLimitStore = {
    hit: (key, windowMs, now) =>
      run(() => {
        const windowStart = windowOf(windowMs, now)
        const r = stmt(
          `INSERT INTO rate_limits (key, window_start, window_ms, count) VALUES (?, ?, ?, 1)
           ON CONFLICT (key) DO UPDATE SET
             count = CASE WHEN window_start = excluded.window_start THEN count + 1 ELSE 1 END,
             window_start = excluded.window_start,
             window_ms = excluded.window_ms
           RETURNING count, window_start`,
        ).get<{ count: number; window_start: number }>(key, windowStart, windowMs)!
        return { count: r.count, resetAt: r.window_start + windowMs }
      }),
    peek: (key, windowMs, now) =>
      run(() => {
        const windowStart = windowOf(windowMs, now)
        const r = stmt('SELECT count, window_start FROM rate_limits WHERE key = ?').get<{ count: number; window_start: number }>(key)
        return { count: r !== undefined && r.window_start === windowStart ? r.count : 0, resetAt: windowStart + windowMs }
      }),
    reset: (key) =>
      run(() => {
        stmt('DELETE FROM rate_limits WHERE key = ?').run(key)
      }),
  }

  return {
    rateLimits,
    driver: driver.name,

    migrate: () => run(() => db.immediate(migrateTx)),

    createUser: (u) => run(() => insertUser(u)),
    findUserByUsername: (username) =>
      run(() => {
        const r = stmt('SELECT * FROM users WHERE username = ?').get<UserRow>(username)
        return r === undefined ? null : toUser(r)
      }),
    findUserById: (id) => run(() => userById(id)),
    setPasswordHash: (userId, passwordHash) =>
      run(() => {
        stmt('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, userId)
      }),

    findIdentity: (provider, subject) =>
      run(() => {
        const r = stmt('SELECT * FROM identities WHERE provider = ? AND subject = ?').get<IdentityRow>(provider, subject)
        return r === undefined ? null : toIdentity(r)
      }),
    createUserWithIdentity: (user, identity) =>
      run(() =>
        db.immediate(() => {
          insertUser(user)
          insertIdentity(identity)
        }),
      ),
    linkIdentity: (identity) => run(() => insertIdentity(identity)),
    listIdentities: (userId) =>
      run(() =>
        stmt('SELECT * FROM identities WHERE user_id = ? ORDER BY created_at, provider, subject').all<IdentityRow>(userId).map(toIdentity),
      ),

    createSession: (s) => run(() => db.immediate(() => createSessionTx(s))),
    findSession: (id) =>
      run(() => {
        const r = getSession(id)
        return r === undefined ? null : toSession(r)
      }),
    listLiveSessions: (userId, now) =>
      run(() =>
        (
          stmt(
            `${SESSION_SELECT}
             WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.refresh_expires_at > ?
               AND s.created_at >= e.sessions_not_before
             ORDER BY s.last_used_at DESC, s.id`,
          ).all<SessionRow>(userId, now, now)
        ).map(toSession),
      ),
    // Concurrent rotations share one commit (one fsync); each is still all-or-nothing (its own savepoint).
    rotateRefresh: async (input) => {
      try {
        return options.groupCommit === false ? db.immediate(() => rotateTx(input)) : await rotations.run(() => rotateTx(input))
      } catch (e) {
        throw translate(e)
      }
    },
    revokeSession: (id, reason, now) =>
      run(
        () =>
          stmt('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL').run(
            now,
            reason,
            id,
          ).changes !== 0,
      ),
    revokeUserSessions: (userId, reason, now, exceptId) =>
      run(() => db.immediate(() => revokeUserTx(userId, reason, now, exceptId ?? null))),
    revokedSince: (since) =>
      run(() => stmt('SELECT id FROM sessions WHERE revoked_at >= ? ORDER BY revoked_at').all<{ id: string }>(since).map((r) => r.id)),
    revokeAllSessions: (notBefore) =>
      run(() => {
        stmt('UPDATE revocation_epoch SET sessions_not_before = max(sessions_not_before, ?) WHERE id = 1').run(notBefore)
      }),
    sessionsNotBefore: () => run(() => stmt('SELECT sessions_not_before AS n FROM revocation_epoch WHERE id = 1').get<{ n: number }>()?.n ?? 0),

    listKeys: () => run(() => stmt('SELECT * FROM keys ORDER BY created_at, kid').all<KeyRow>().map(toKey)),
    insertKey: (k) =>
      run(() => {
        stmt(
          'INSERT INTO keys (kid, alg, public_jwk, sealed_private_jwk, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)',
        ).run(k.kid, k.alg, k.publicJwk, k.sealedPrivateJwk, k.createdAt, k.retiredAt)
      }),
    retireKey: (kid, at) =>
      run(() => {
        stmt('UPDATE keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL').run(at, kid)
      }),

    async prune(now) {
      const cutoff = now - DAY_MS
      let total = 0
      for (;;) {
        const deleted = await run(() => db.immediate(() => pruneBatchTx(cutoff)))
        total += deleted
        if (deleted < PRUNE_BATCH) break
        // The store is synchronous: between batches, let the event loop serve requests.
        await new Promise((resolve) => setImmediate(resolve))
      }
      await run(() => stmt('DELETE FROM rate_limits WHERE window_start + window_ms <= ?').run(now))
      return total
    },

    close: async () => {
      db.close()
    },
  }
}
