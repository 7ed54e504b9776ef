import pg from 'pg'
import { BastionError } from '@bastion/server'
import { inTransaction } from '@bastion/server/postgres'
import { LedgerError, type Ledger, type TransferRecord } from './ledger.ts'

export interface PostgresLedgerOptions {
  connectionString: string
  /** Schema holding `bank_accounts` and `bank_transfers`. Default `public`. */
  schema?: string
}

type Row = Record<string, unknown>

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

/**
 * The ledger in PostgreSQL, for several demo instances sharing one database.
 * A transfer locks both accounts in a fixed order (so two opposite transfers
 * cannot deadlock), checks, moves, and records in one transaction; the CHECK
 * constraint is the last word on a negative balance.
 */
export function postgresLedger(options: PostgresLedgerOptions): Ledger & { ready: Promise<void> } {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: 5, connectionTimeoutMillis: 3_000, query_timeout: 5_000 })
  pool.on('error', () => {}) // an idle connection dropped by the server is replaced on next use
  const s = quoteIdent(options.schema ?? 'public')
  const accounts = `${s}.bank_accounts`
  const transfers = `${s}.bank_transfers`

  /** The database down or unreachable is the contract's 503, never a 500. */
  const unavailable = (e: unknown): never => {
    if (e instanceof LedgerError || e instanceof BastionError) throw e
    throw new BastionError('unavailable', 'The bank is unavailable; try again shortly.', { retryAfter: 5, cause: e })
  }
  const query = async (text: string, values: unknown[] = []): Promise<Row[]> => {
    try {
      return (await pool.query<Row>(text, values)).rows
    } catch (e) {
      return unavailable(e)
    }
  }
  const tx = async <R>(body: (c: pg.PoolClient) => Promise<R>): Promise<R> => {
    try {
      return await inTransaction(pool, body)
    } catch (e) {
      return unavailable(e)
    }
  }

  const ready = tx(async (c) => {
    await c.query(`SELECT pg_advisory_xact_lock(hashtext(${pg.escapeLiteral(`bastion-demo-ledger:${s}`)}))`)
    await c.query(`
      CREATE TABLE IF NOT EXISTS ${accounts} (
        user_id  text PRIMARY KEY,
        username text NOT NULL UNIQUE,
        balance  bigint NOT NULL CHECK (balance >= 0)
      );
      CREATE TABLE IF NOT EXISTS ${transfers} (
        id         bigserial PRIMARY KEY,
        from_user  text NOT NULL REFERENCES ${accounts}(user_id),
        to_user    text NOT NULL REFERENCES ${accounts}(user_id),
        amount     bigint NOT NULL CHECK (amount > 0),
        created_at bigint NOT NULL
      );
      CREATE INDEX IF NOT EXISTS bank_transfers_from ON ${transfers}(from_user, id);
      CREATE INDEX IF NOT EXISTS bank_transfers_to ON ${transfers}(to_user, id);
    `)
  })
  ready.catch(() => {}) // reported by the first call that awaits it

  const toRecord = (r: Row): TransferRecord => ({
    id: Number(r.id),
    from: r.from as string,
    to: r.to as string,
    amount: Number(r.amount),
    createdAt: new Date(Number(r.created_at)).toISOString(),
  })

  return {
    ready,
    async ensureAccount(userId, username, balance) {
      await ready
      await query(`INSERT INTO ${accounts} (user_id, username, balance) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [userId, username, balance])
    },
    async balanceOf(userId) {
      const [row] = await query(`SELECT balance FROM ${accounts} WHERE user_id = $1`, [userId])
      return row ? Number(row.balance) : null
    },
    async balanceByUsername(username) {
      const [row] = await query(`SELECT balance FROM ${accounts} WHERE username = $1`, [username])
      return row ? Number(row.balance) : null
    },
    async total() {
      const [row] = await query(`SELECT COALESCE(SUM(balance), 0) AS t FROM ${accounts}`)
      return Number(row!.t)
    },
    transfer: (fromUserId, toUsername, amount) =>
      tx(async (c) => {
        const to = (await c.query<Row>(`SELECT user_id, username FROM ${accounts} WHERE username = $1`, [toUsername])).rows[0]
        if (!to) throw new LedgerError('not_found', `No account named ${toUsername}.`)
        if (to.user_id === fromUserId) throw new LedgerError('bad_request', 'You cannot send money to yourself.')
        const locked = (
          await c.query<Row>(`SELECT user_id, username, balance FROM ${accounts} WHERE user_id IN ($1, $2) ORDER BY user_id FOR UPDATE`, [fromUserId, to.user_id])
        ).rows
        const from = locked.find((r) => r.user_id === fromUserId)
        if (!from) throw new LedgerError('not_found', 'You have no account.')
        if (Number(from.balance) < amount) throw new LedgerError('bad_request', 'Insufficient funds.')
        await c.query(`UPDATE ${accounts} SET balance = balance - $1 WHERE user_id = $2`, [amount, fromUserId])
        await c.query(`UPDATE ${accounts} SET balance = balance + $1 WHERE user_id = $2`, [amount, to.user_id])
        const createdAt = Date.now()
        const [row] = (
          await c.query<Row>(`INSERT INTO ${transfers} (from_user, to_user, amount, created_at) VALUES ($1, $2, $3, $4) RETURNING id`, [
            fromUserId,
            to.user_id,
            amount,
            createdAt,
          ])
        ).rows
        return toRecord({ id: row!.id, from: from.username, to: to.username, amount, created_at: createdAt })
      }),
    async history(userId, limit = 50) {
      const rows = await query(
        `SELECT t.id, f.username AS "from", r.username AS "to", t.amount, t.created_at
         FROM ${transfers} t JOIN ${accounts} f ON f.user_id = t.from_user JOIN ${accounts} r ON r.user_id = t.to_user
         WHERE t.from_user = $1 OR t.to_user = $1 ORDER BY t.id DESC LIMIT $2`,
        [userId, limit],
      )
      return rows.map(toRecord)
    },
    async close() {
      await pool.end()
    },
  }
}
