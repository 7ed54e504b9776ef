/**
 * A store on PostgreSQL, for several instances sharing one database.
 *
 * @example
 * ```ts
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL! })
 * await store.migrate()
 * ```
 */
import type pg from 'pg'
import { requireOptional } from '../../optional-dependency.ts'
import { StoreConflictError, StoreUnavailableError } from '../../errors.ts'
import type {
  IdentityRecord,
  KeyRecord,
  RateLimitStore,
  RotationOutcome,
  SessionRecord,
  Store,
  UserRecord,
} from '../../store.ts'
import { migrations } from './migrations.ts'
import { inTransaction } from './transaction.ts'
import { turnBatch } from './turn-batch.ts'

export { inTransaction } from './transaction.ts'

export interface PostgresStoreOptions {
  connectionString: string
  /** A pool to use instead of one made from `connectionString`; `close()` leaves it open. */
  pool?: pg.Pool
  /** Schema holding the tables (created by `migrate()`). Default `public`. */
  schema?: string
}

export type PostgresStore = Store & {
  rateLimits: RateLimitStore
  /**
   * Deletes sessions whose absolute and idle ends are both more than a day
   * before `now`, a few thousand per statement (short transactions), and
   * rate-limit windows that have ended. Returns how many sessions were deleted.
   */
  prune(now: number): Promise<number>
}

const DAY_MS = 24 * 60 * 60 * 1000

type Row = Record<string, unknown>

// int8 (bigint) as a JS number, for this store's pool only: times in ms fit easily.
const INT8_OID = 20
const typesOf = (driver: typeof pg): pg.CustomTypesConfig => ({
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : (driver.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
})

/** The `pg` driver, installed by the application (an optional peer dependency). */
const loadPg = (): typeof pg => requireOptional<typeof pg>('pg', 'The PostgreSQL store (@bastion/server/postgres)')

/** Reads again after a lost race at most this many times (each loss means another rotation of the same session won). */
const MAX_ROTATION_ATTEMPTS = 16

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v))

/** A session made before the revocation epoch (`not_before`, joined in by reads) answers as revoked. */
const toSession = (r: Row): SessionRecord => {
  const notBefore = r.not_before === undefined ? 0 : num(r.not_before)
  const revokedAll = r.revoked_at === null && num(r.created_at) < notBefore
  return {
    id: r.id as string,
    userId: r.user_id as string,
    kind: r.kind as SessionRecord['kind'],
    createdAt: num(r.created_at),
    lastUsedAt: num(r.last_used_at),
    expiresAt: num(r.expires_at),
    refreshExpiresAt: num(r.refresh_expires_at),
    userAgent: (r.user_agent as string | null) ?? null,
    ip: (r.ip as string | null) ?? null,
    revokedAt: revokedAll ? notBefore : numOrNull(r.revoked_at),
    revokedReason: revokedAll ? 'revoked_all' : ((r.revoked_reason as string | null) ?? null),
    generation: num(r.generation),
    tokenSalt: (r.token_salt as string | null) ?? null,
    rotatedAt: numOrNull(r.rotated_at),
    dpopJkt: (r.dpop_jkt as string | null) ?? null,
    method: ((r.method as string | undefined) ?? 'password') as SessionRecord['method'],
  }
}

const toIdentity = (r: Row): IdentityRecord => ({
  provider: r.provider as string,
  subject: r.subject as string,
  userId: r.user_id as string,
  email: (r.email as string | null) ?? null,
  emailVerified: r.email_verified === true,
  createdAt: num(r.created_at),
})

/** Sessions deleted per statement by prune: short transactions, so other writers never wait long. */
const PRUNE_BATCH = 5_000

const toUser = (r: Row): UserRecord => ({
  id: r.id as string,
  username: r.username as string,
  passwordHash: r.password_hash as string,
  createdAt: num(r.created_at),
})

/** The `owner` column a rotation answers with: the user's row as JSON, or null. */
const ownerOf = (r: Row): UserRecord | null => (r.owner === null || r.owner === undefined ? null : toUser(r.owner as Row))

const toKey = (r: Row): KeyRecord => ({
  kid: r.kid as string,
  alg: r.alg as string,
  publicJwk: r.public_jwk as string,
  sealedPrivateJwk: r.sealed_private_jwk as string,
  createdAt: num(r.created_at),
  retiredAt: numOrNull(r.retired_at),
})

/** A rotation from its caller's read (`seen`): the compare-and-set's inputs. */
interface FastRotation {
  id: string
  now: number
  refreshExpiresAt: number
  tokenSalt: string
  generation: number
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

/** PostgreSQL text cannot hold NUL: no stored key contains one, and sending one is an error, not a miss. */
const unstorable = (key: string) => key.includes('\u0000')

/**
 * Driver and connection errors become the store's errors: a unique violation
 * is a conflict, anything else from the database or the network means the
 * store cannot answer. Programming errors pass through.
 */
function translate(e: unknown, driver: typeof pg): unknown {
  if (e instanceof StoreConflictError || e instanceof StoreUnavailableError) return e
  if (e instanceof driver.DatabaseError && e.code === '23505') {
    return new StoreConflictError(e.detail ?? e.message)
  }
  if (e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError) {
    return e
  }
  const message = e instanceof Error ? e.message : String(e)
  return new StoreUnavailableError(`postgres: ${message}`, { cause: e })
}

export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const driver = loadPg()
  const ownPool = options.pool === undefined
  const pool =
    options.pool ??
    new driver.Pool({
      connectionString: options.connectionString,
      types: typesOf(driver),
      // Fail closed quickly instead of queueing requests behind a dead database.
      connectionTimeoutMillis: 3_000,
      // A database that accepts the connection but stops answering must not hang a request either.
      query_timeout: 5_000,
      max: 10,
    })
  // An idle client losing its connection must not crash the process; the next query reports it.
  const onPoolError = () => {}
  pool.on('error', onPoolError)

  const schemaName = options.schema ?? 'public'
  const s = quoteIdent(schemaName)
  const T = {
    users: `${s}.users`,
    sessions: `${s}.sessions`,
    tokens: `${s}.refresh_tokens`,
    identities: `${s}.identities`,
    epoch: `${s}.revocation_epoch`,
    keys: `${s}.keys`,
    rl: `${s}.rate_limits`,
    migrations: `${s}.schema_migrations`,
  }

  /** Every session read joins the revocation epoch (see toSession). */
  const sessionSelect = `SELECT s.*, e.sessions_not_before AS not_before FROM ${T.sessions} s CROSS JOIN ${T.epoch} e`

  // Named: each pooled connection parses them once. Each write applies only at the generation that was read.
  const sessionRead: pg.QueryConfig = { name: `bastion_session_read_${schemaName}`, text: `${sessionSelect} WHERE s.id = $1` }
  const sessionReadMany: pg.QueryConfig = {
    name: `bastion_session_read_many_${schemaName}`,
    text: `${sessionSelect} WHERE s.id = ANY($1::text[])`,
  }
  // The rotation answers with the session's user (`owner`, as JSON: null if the account is gone), so a refresh needs no
  // round trip of its own to read it. It also refuses a session that expired or fell under a revoke-all since the read.
  const withOwner = `SELECT w.*, (SELECT row_to_json(u) FROM ${T.users} u WHERE u.id = w.user_id) AS owner FROM written w`
  const rotationRotate: pg.QueryConfig = {
    name: `bastion_rotation_rotate_${schemaName}`,
    text: `WITH written AS (
             UPDATE ${T.sessions} SET generation = generation + 1, last_used_at = $2, refresh_expires_at = $3,
               rotated_at = $2, token_salt = COALESCE(token_salt, $4)
             WHERE id = $1 AND generation = $6 AND revoked_at IS NULL AND expires_at > $2 AND refresh_expires_at > $2
               AND created_at >= (SELECT sessions_not_before FROM ${T.epoch} WHERE id = 1)
             RETURNING *
           ), legacy AS (
             UPDATE ${T.tokens} SET rotated_at = $2 WHERE $5::text IS NOT NULL AND hash = $5::text AND EXISTS (SELECT 1 FROM written)
           )
           ${withOwner}`,
  }
  // The compare-and-set of rotationRotate for many sessions at once (each from its caller's read, so each already has
  // a salt: none is set here, and no legacy token is touched). It never waits for a row lock: a session another
  // transaction holds is skipped (not rotated, so its caller takes the slow path, which waits alone). Waiting while
  // holding the locks of the rows before it could deadlock with any other statement that locks several sessions (the
  // next batch, another instance's, revokeUserSessions), and the deadlock would fail every rotation in the batch.
  const rotationRotateMany: pg.QueryConfig = {
    name: `bastion_rotation_rotate_many_${schemaName}`,
    text: `WITH input AS (
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[]) AS i(id, now, refresh_expires_at, generation)
           ), free AS MATERIALIZED (
             SELECT s.id FROM ${T.sessions} s WHERE s.id = ANY($1::text[]) FOR UPDATE SKIP LOCKED
           ), written AS (
             UPDATE ${T.sessions} s SET generation = s.generation + 1, last_used_at = i.now, refresh_expires_at = i.refresh_expires_at,
               rotated_at = i.now
             FROM free f JOIN input i ON i.id = f.id
             WHERE s.id = f.id AND s.generation = i.generation AND s.revoked_at IS NULL
               AND s.expires_at > i.now AND s.refresh_expires_at > i.now
               AND s.created_at >= (SELECT sessions_not_before FROM ${T.epoch} WHERE id = 1)
             RETURNING s.*
           )
           ${withOwner}`,
  }
  const rotationGrace: pg.QueryConfig = {
    name: `bastion_rotation_grace_${schemaName}`,
    text: `WITH written AS (
             UPDATE ${T.sessions} SET last_used_at = $2 WHERE id = $1 AND generation = $3 AND revoked_at IS NULL RETURNING *
           )
           ${withOwner}`,
  }
  const rotationRevoke: pg.QueryConfig = {
    name: `bastion_rotation_revoke_${schemaName}`,
    text: `UPDATE ${T.sessions} SET revoked_at = $2, revoked_reason = 'refresh_token_reuse'
           WHERE id = $1 AND generation = $3 AND revoked_at IS NULL RETURNING *`,
  }

  const query = async (text: string | pg.QueryConfig, values: unknown[] = []): Promise<pg.QueryResult<Row>> => {
    try {
      return await pool.query<Row>(typeof text === 'string' ? { text, values } : { ...text, values })
    } catch (e) {
      throw translate(e, driver)
    }
  }

  const tx = async <R>(body: (client: pg.PoolClient) => Promise<R>): Promise<R> => {
    try {
      return await inTransaction(pool, body)
    } catch (e) {
      throw translate(e, driver)
    }
  }

  // Session reads of one turn of the event loop share one statement (see turn-batch.ts); an id asked for twice is sent once.
  const sessionReads = turnBatch<string, SessionRecord | null>(async (ids) => {
    const unique = [...new Set(ids)]
    const { rows } = unique.length === 1 ? await query(sessionRead, unique) : await query(sessionReadMany, [unique])
    const byId = new Map(rows.map((r) => [r.id as string, r]))
    return ids.map((id) => {
      const row = byId.get(id)
      return row === undefined ? null : toSession(row)
    })
  })

  // The fast-path rotations of one turn share one compare-and-set; each answers its session's row, or undefined if it
  // was not rotated (moved on, revoked, expired, or held by another transaction: its caller then takes the slow path).
  // No session is in a batch twice: an UPDATE … FROM joining one row to two inputs updates it once, and both callers
  // would be told they rotated. `rotating` holds the sessions waiting for a batch; a second rotation of one of them
  // takes the slow path instead, whose read finds what the first did.
  const rotating = new Set<string>()
  const rotations = turnBatch<FastRotation, Row | undefined>(async (entries) => {
    for (const e of entries) rotating.delete(e.id)
    if (entries.length === 1) {
      const e = entries[0]!
      const { rows } = await query(rotationRotate, [e.id, e.now, e.refreshExpiresAt, e.tokenSalt, null, e.generation])
      return [rows[0]]
    }
    const { rows } = await query(rotationRotateMany, [
      entries.map((e) => e.id),
      entries.map((e) => e.now),
      entries.map((e) => e.refreshExpiresAt),
      entries.map((e) => e.generation),
    ])
    const byId = new Map(rows.map((r) => [r.id as string, r]))
    return entries.map((e) => byId.get(e.id))
  })

  const windowOf = (windowMs: number, now: number): number => now - (now % windowMs)

  const insertUserSql = `INSERT INTO ${T.users} (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)`
  const userValues = (u: UserRecord) => [u.id, u.username, u.passwordHash, u.createdAt]
  const userConflict = (u: UserRecord) => (e: unknown) => {
    if (e instanceof StoreConflictError) {
      throw new StoreConflictError(/username/.test(e.message) ? `username already taken: ${u.username}` : `user already exists: ${u.id}`)
    }
    throw e
  }
  const insertIdentitySql = `INSERT INTO ${T.identities} (provider, subject, user_id, email, email_verified, created_at) VALUES ($1, $2, $3, $4, $5, $6)`
  const identityValues = (i: IdentityRecord) => [i.provider, i.subject, i.userId, i.email, i.emailVerified, i.createdAt]
  const identityConflict = (i: IdentityRecord) => (e: unknown) => {
    if (e instanceof StoreConflictError) throw new StoreConflictError(`provider account already linked: ${i.provider}`)
    throw e
  }

  const rateLimits: RateLimitStore = {
    async hit(key, windowMs, now) {
      const windowStart = windowOf(windowMs, now)
      const { rows } = await query(
        `INSERT INTO ${T.rl} AS r (key, window_start, window_ms, count) VALUES ($1, $2, $3, 1)
         ON CONFLICT (key) DO UPDATE SET
           count = CASE WHEN r.window_start = excluded.window_start THEN r.count + 1 ELSE 1 END,
           window_start = excluded.window_start,
           window_ms = excluded.window_ms
         RETURNING count, window_start`,
        [key, windowStart, windowMs],
      )
      const r = rows[0]!
      return { count: num(r.count), resetAt: num(r.window_start) + windowMs }
    },
    async peek(key, windowMs, now) {
      const windowStart = windowOf(windowMs, now)
      const { rows } = await query(`SELECT count, window_start FROM ${T.rl} WHERE key = $1`, [key])
      const r = rows[0]
      return {
        count: r !== undefined && num(r.window_start) === windowStart ? num(r.count) : 0,
        resetAt: windowStart + windowMs,
      }
    },
    async reset(key) {
      await query(`DELETE FROM ${T.rl} WHERE key = $1`, [key])
    },
  }

  let closed = false

  return {
    rateLimits,

    migrate: () =>
      tx(async (c) => {
        // One lock per schema, held to the end of the transaction: the first
        // instance applies, the others wait and then find nothing to do.
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`bastion:migrate:${schemaName}`])
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`)
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${T.migrations} (version integer PRIMARY KEY, applied_at bigint NOT NULL)`,
        )
        const { rows } = await c.query<Row>(`SELECT version FROM ${T.migrations}`)
        const applied = new Set(rows.map((r) => num(r.version)))
        for (const m of migrations) {
          if (applied.has(m.version)) continue
          await c.query(m.sql(s))
          await c.query(`INSERT INTO ${T.migrations} (version, applied_at) VALUES ($1, $2)`, [m.version, Date.now()])
        }
      }),

    async createUser(u) {
      await query(insertUserSql, userValues(u)).catch(userConflict(u))
    },
    async findUserByUsername(username) {
      if (unstorable(username)) return null
      const { rows } = await query(`SELECT * FROM ${T.users} WHERE username = $1`, [username])
      return rows[0] === undefined ? null : toUser(rows[0])
    },
    async findUserById(id) {
      if (unstorable(id)) return null
      const { rows } = await query(`SELECT * FROM ${T.users} WHERE id = $1`, [id])
      return rows[0] === undefined ? null : toUser(rows[0])
    },
    async setPasswordHash(userId, passwordHash) {
      await query(`UPDATE ${T.users} SET password_hash = $2 WHERE id = $1`, [userId, passwordHash])
    },

    async findIdentity(provider, subject) {
      if (unstorable(provider) || unstorable(subject)) return null
      const { rows } = await query(`SELECT * FROM ${T.identities} WHERE provider = $1 AND subject = $2`, [provider, subject])
      return rows[0] === undefined ? null : toIdentity(rows[0])
    },
    createUserWithIdentity: (user, identity) =>
      tx(async (c) => {
        // Each insert translated on its own, so the conflict says which record was taken; the transaction rolls both back.
        await c.query(insertUserSql, userValues(user)).catch((e) => userConflict(user)(translate(e, driver)))
        await c.query(insertIdentitySql, identityValues(identity)).catch((e) => identityConflict(identity)(translate(e, driver)))
      }),
    async linkIdentity(identity) {
      await query(insertIdentitySql, identityValues(identity)).catch(identityConflict(identity))
    },
    async listIdentities(userId) {
      if (unstorable(userId)) return []
      const { rows } = await query(`SELECT * FROM ${T.identities} WHERE user_id = $1 ORDER BY created_at, provider, subject`, [userId])
      return rows.map(toIdentity)
    },

    createSession: (n) =>
      tx(async (c) => {
        const { rows } = await c.query<Row>(
          `INSERT INTO ${T.sessions} (id, user_id, kind, created_at, last_used_at, expires_at, refresh_expires_at,
             user_agent, ip, revoked_at, revoked_reason, generation, token_salt, rotated_at, dpop_jkt, method)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, NULL, NULL, 0, $9, NULL, $10, $11)
           RETURNING *`,
          [n.id, n.userId, n.kind, n.now, n.expiresAt, n.refreshExpiresAt, n.userAgent, n.ip, n.tokenSalt, n.dpopJkt ?? null, n.method ?? 'password'],
        )
        return toSession(rows[0]!)
      }),
    async findSession(id) {
      if (unstorable(id)) return null
      return sessionReads.run(id)
    },
    async listLiveSessions(userId, now) {
      const { rows } = await query(
        `${sessionSelect}
         WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.refresh_expires_at > $2
           AND s.created_at >= e.sessions_not_before
         ORDER BY s.last_used_at DESC, s.id`,
        [userId, now],
      )
      return rows.map(toSession)
    },

    /**
     * A compare-and-set, not a locked transaction: one read of the session, then one statement that applies
     * the outcome only if the session is still at the generation that was read. A rotation that lost a race
     * to another of the same session changes nothing and reads again, and then sees what the winner
     * committed (the grace answer, or reuse). Two round trips instead of five (BEGIN, lock, write, COMMIT on
     * a checked-out client); each write is one statement, so it is atomic on its own.
     */
    async rotateRefresh(input): Promise<RotationOutcome> {
      const { sessionId, presented, now, graceMs, seen } = input
      if (unstorable(sessionId)) return { kind: 'invalid', session: null }
      // The common case, from the caller's read: the presented generation is the current one, and the compare-and-set
      // is the only round trip. If the session moved on, was revoked or expired since, it changes nothing and the loop
      // reads the session again. Concurrent ones share one statement (see `rotations`).
      if (seen !== undefined && seen.id === sessionId && 'generation' in presented && seen.tokenSalt !== null && presented.generation === seen.generation
        && !rotating.has(sessionId)) {
        const entry: FastRotation = { id: sessionId, now, refreshExpiresAt: input.refreshExpiresAt(seen), tokenSalt: seen.tokenSalt, generation: seen.generation }
        rotating.add(sessionId)
        const row = await rotations.run(entry)
        if (row !== undefined) return { kind: 'rotated', session: toSession(row), owner: ownerOf(row) }
      }
      for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
        const read = await query(sessionRead, [sessionId])
        if (read.rows[0] === undefined) return { kind: 'invalid', session: null }
        const session = toSession(read.rows[0])
        if (session.revokedAt !== null || now >= session.expiresAt || now >= session.refreshExpiresAt) {
          return { kind: 'invalid', session }
        }
        let generation: number
        let previousRotatedAt = session.rotatedAt
        if ('legacyHash' in presented) {
          const tok = await query(`SELECT generation, rotated_at FROM ${T.tokens} WHERE hash = $1 AND session_id = $2`, [presented.legacyHash, sessionId])
          if (tok.rows[0] === undefined) return { kind: 'invalid', session }
          generation = num(tok.rows[0].generation)
          previousRotatedAt = numOrNull(tok.rows[0].rotated_at)
        } else {
          // A legacy session never issued a generation token.
          if (session.tokenSalt === null) return { kind: 'invalid', session }
          generation = presented.generation
        }
        if (generation > session.generation) return { kind: 'invalid', session }
        let kind: 'rotated' | 'grace' | 'reused'
        let written: pg.QueryResult<Row>
        if (generation === session.generation) {
          kind = 'rotated'
          // A legacy token moving to the generation format starts its grace like any rotated token.
          written = await query(rotationRotate, [
            session.id,
            now,
            input.refreshExpiresAt(session),
            input.tokenSalt,
            'legacyHash' in presented ? presented.legacyHash : null,
            session.generation,
          ])
        } else if (generation === session.generation - 1 && previousRotatedAt !== null && now - previousRotatedAt <= graceMs) {
          kind = 'grace'
          written = await query(rotationGrace, [session.id, now, session.generation])
        } else {
          kind = 'reused'
          written = await query(rotationRevoke, [session.id, now, session.generation])
        }
        const row = written.rows[0]
        if (row !== undefined) return kind === 'reused' ? { kind, session: toSession(row) } : { kind, session: toSession(row), owner: ownerOf(row) }
        // The session moved on (or was revoked) between the read and the write: read again.
      }
      throw new StoreUnavailableError('postgres: a refresh rotation kept losing races to others of its session; try again')
    },

    async revokeSession(id, reason, now) {
      if (unstorable(id)) return false
      const { rowCount } = await query(
        `UPDATE ${T.sessions} SET revoked_at = $3, revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL`,
        [id, reason, now],
      )
      return (rowCount ?? 0) > 0
    },
    async revokeUserSessions(userId, reason, now, exceptId) {
      const { rows } = await query(
        `UPDATE ${T.sessions} SET revoked_at = $3, revoked_reason = $2
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $3 AND refresh_expires_at > $3
           AND created_at >= (SELECT sessions_not_before FROM ${T.epoch} WHERE id = 1)
           AND ($4::text IS NULL OR id <> $4::text)
         RETURNING id`,
        [userId, reason, now, exceptId ?? null],
      )
      return rows.map((r) => r.id as string)
    },
    async revokedSince(since) {
      const { rows } = await query(`SELECT id FROM ${T.sessions} WHERE revoked_at >= $1 ORDER BY revoked_at`, [since])
      return rows.map((r) => r.id as string)
    },
    async revokeAllSessions(notBefore) {
      await query(`UPDATE ${T.epoch} SET sessions_not_before = GREATEST(sessions_not_before, $1) WHERE id = 1`, [notBefore])
    },
    async sessionsNotBefore() {
      const { rows } = await query(`SELECT sessions_not_before FROM ${T.epoch} WHERE id = 1`)
      return rows[0] === undefined ? 0 : num(rows[0].sessions_not_before)
    },

    async listKeys() {
      const { rows } = await query(`SELECT * FROM ${T.keys} ORDER BY created_at, kid`)
      return rows.map(toKey)
    },
    async insertKey(k) {
      await query(
        `INSERT INTO ${T.keys} (kid, alg, public_jwk, sealed_private_jwk, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [k.kid, k.alg, k.publicJwk, k.sealedPrivateJwk, k.createdAt, k.retiredAt],
      )
    },
    async retireKey(kid, at) {
      await query(`UPDATE ${T.keys} SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL`, [kid, at])
    },

    async prune(now) {
      const cutoff = now - DAY_MS
      let total = 0
      for (;;) {
        // Legacy refresh_tokens rows go with their session (ON DELETE CASCADE).
        const { rowCount } = await query(
          `DELETE FROM ${T.sessions} WHERE id IN (
             SELECT id FROM ${T.sessions} WHERE expires_at < $1 AND refresh_expires_at < $1 LIMIT ${PRUNE_BATCH})`,
          [cutoff],
        )
        total += rowCount ?? 0
        if ((rowCount ?? 0) < PRUNE_BATCH) break
      }
      await query(`DELETE FROM ${T.rl} WHERE window_start + window_ms <= $1`, [now])
      return total
    },

    async close() {
      if (closed) return
      closed = true
      if (ownPool) await pool.end()
      else pool.off('error', onPoolError)
    },
  }
}
