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
  KeyRecord,
  RateLimitStore,
  RotationOutcome,
  SessionRecord,
  Store,
  UserRecord,
} from '../../store.ts'
import { migrations } from './migrations.ts'
import { inTransaction } from './transaction.ts'

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
   * Deletes sessions (and their refresh tokens) whose absolute and idle ends
   * are both more than a day before `now`, and rate-limit windows that have
   * ended. Returns how many sessions were deleted.
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

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v))
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v))

const toSession = (r: Row): SessionRecord => ({
  id: r.id as string,
  userId: r.user_id as string,
  kind: r.kind as SessionRecord['kind'],
  createdAt: num(r.created_at),
  lastUsedAt: num(r.last_used_at),
  expiresAt: num(r.expires_at),
  refreshExpiresAt: num(r.refresh_expires_at),
  userAgent: (r.user_agent as string | null) ?? null,
  ip: (r.ip as string | null) ?? null,
  revokedAt: numOrNull(r.revoked_at),
  revokedReason: (r.revoked_reason as string | null) ?? null,
  generation: num(r.generation),
})

const toUser = (r: Row): UserRecord => ({
  id: r.id as string,
  username: r.username as string,
  passwordHash: r.password_hash as string,
  createdAt: num(r.created_at),
})

const toKey = (r: Row): KeyRecord => ({
  kid: r.kid as string,
  alg: r.alg as string,
  publicJwk: r.public_jwk as string,
  sealedPrivateJwk: r.sealed_private_jwk as string,
  createdAt: num(r.created_at),
  retiredAt: numOrNull(r.retired_at),
})

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
    keys: `${s}.keys`,
    rl: `${s}.rate_limits`,
    migrations: `${s}.schema_migrations`,
  }

  const query = async (text: string, values: unknown[] = []): Promise<pg.QueryResult<Row>> => {
    try {
      return await pool.query<Row>(text, values)
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

  const windowOf = (windowMs: number, now: number): number => now - (now % windowMs)

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
      try {
        await query(`INSERT INTO ${T.users} (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)`, [
          u.id,
          u.username,
          u.passwordHash,
          u.createdAt,
        ])
      } catch (e) {
        if (e instanceof StoreConflictError) {
          throw new StoreConflictError(
            /username/.test(e.message) ? `username already taken: ${u.username}` : `user already exists: ${u.id}`,
          )
        }
        throw e
      }
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

    createSession: (n) =>
      tx(async (c) => {
        const { rows } = await c.query<Row>(
          `INSERT INTO ${T.sessions} (id, user_id, kind, created_at, last_used_at, expires_at, refresh_expires_at,
             user_agent, ip, revoked_at, revoked_reason, generation)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, NULL, NULL, 0)
           RETURNING *`,
          [n.id, n.userId, n.kind, n.now, n.expiresAt, n.refreshExpiresAt, n.userAgent, n.ip],
        )
        await c.query(
          `INSERT INTO ${T.tokens} (hash, session_id, generation, issued_at, rotated_at) VALUES ($1, $2, 0, $3, NULL)`,
          [n.refreshHash, n.id, n.now],
        )
        return toSession(rows[0]!)
      }),
    async findSession(id) {
      if (unstorable(id)) return null
      const { rows } = await query(`SELECT * FROM ${T.sessions} WHERE id = $1`, [id])
      return rows[0] === undefined ? null : toSession(rows[0])
    },
    async listLiveSessions(userId, now) {
      const { rows } = await query(
        `SELECT * FROM ${T.sessions}
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND refresh_expires_at > $2
         ORDER BY last_used_at DESC, id`,
        [userId, now],
      )
      return rows.map(toSession)
    },

    rotateRefresh: (input) =>
      tx(async (c): Promise<RotationOutcome> => {
        const { presentedHash, successorHash, now, graceMs } = input
        // Lock the token's session first: concurrent rotations of its tokens queue here,
        // and each then sees the state the previous one committed.
        const locked = await c.query<Row>(
          `SELECT s.* FROM ${T.sessions} s WHERE s.id = (SELECT session_id FROM ${T.tokens} WHERE hash = $1) FOR UPDATE`,
          [presentedHash],
        )
        if (locked.rows[0] === undefined) return { kind: 'invalid', session: null }
        const session = toSession(locked.rows[0])
        // Read the token again under the lock (READ COMMITTED: a fresh snapshot).
        const tok = await c.query<Row>(`SELECT generation, rotated_at FROM ${T.tokens} WHERE hash = $1`, [presentedHash])
        const token = tok.rows[0]
        if (token === undefined) return { kind: 'invalid', session: null }
        if (session.revokedAt !== null || now >= session.expiresAt || now >= session.refreshExpiresAt) {
          return { kind: 'invalid', session }
        }
        const generation = num(token.generation)
        const rotatedAt = numOrNull(token.rotated_at)

        if (generation === session.generation) {
          const refreshExpiresAt = input.refreshExpiresAt(session)
          // One statement, one round trip: the successor, the presented token marked rotated, the session moved on.
          const { rows } = await c.query<Row>(
            `WITH successor AS (
               INSERT INTO ${T.tokens} (hash, session_id, generation, issued_at, rotated_at) VALUES ($4, $1, $5, $2, NULL)
             ), presented AS (
               UPDATE ${T.tokens} SET rotated_at = $2 WHERE hash = $6
             )
             UPDATE ${T.sessions} SET generation = generation + 1, last_used_at = $2, refresh_expires_at = $3
             WHERE id = $1 RETURNING *`,
            [session.id, now, refreshExpiresAt, successorHash, session.generation + 1, presentedHash],
          )
          return { kind: 'rotated', session: toSession(rows[0]!) }
        }

        if (generation === session.generation - 1 && rotatedAt !== null && now - rotatedAt <= graceMs) {
          const { rows } = await c.query<Row>(`UPDATE ${T.sessions} SET last_used_at = $2 WHERE id = $1 RETURNING *`, [
            session.id,
            now,
          ])
          return { kind: 'grace', session: toSession(rows[0]!) }
        }

        const { rows } = await c.query<Row>(
          `UPDATE ${T.sessions} SET revoked_at = $2, revoked_reason = 'refresh_token_reuse' WHERE id = $1 RETURNING *`,
          [session.id, now],
        )
        return { kind: 'reused', session: toSession(rows[0]!) }
      }),

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

    prune: (now) =>
      tx(async (c) => {
        const cutoff = now - DAY_MS
        // refresh_tokens go with their session (ON DELETE CASCADE).
        const { rowCount } = await c.query(
          `DELETE FROM ${T.sessions} WHERE expires_at < $1 AND refresh_expires_at < $1`,
          [cutoff],
        )
        await c.query(`DELETE FROM ${T.rl} WHERE window_start + window_ms <= $1`, [now])
        return rowCount ?? 0
      }),

    async close() {
      if (closed) return
      closed = true
      if (ownPool) await pool.end()
      else pool.off('error', onPoolError)
    },
  }
}
