import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { openSqlite, sqliteDriverFromEnv, type SqliteDatabase, type SqliteDriverName, type SqliteStatement } from '@bastion/server/sqlite'

export interface TransferRecord {
  id: number
  from: string
  to: string
  amount: number
  createdAt: string
}

export class LedgerError extends Error {
  constructor(
    readonly code: 'bad_request' | 'not_found',
    message: string,
  ) {
    super(message)
  }
}

/**
 * The demo bank's money, in integer cents. Every implementation makes a
 * transfer one transaction guarded by a CHECK constraint, so a crash or a
 * race (in one process or across instances) can neither create money nor make
 * a balance negative.
 */
export interface Ledger {
  /** Opens an account with `balance` unless it exists. */
  ensureAccount(userId: string, username: string, balance: number): Promise<void>
  balanceOf(userId: string): Promise<number | null>
  balanceByUsername(username: string): Promise<number | null>
  /** The sum of every balance: constant, whatever happens. */
  total(): Promise<number>
  transfer(fromUserId: string, toUsername: string, amount: number): Promise<TransferRecord>
  history(userId: string, limit?: number): Promise<TransferRecord[]>
  close(): Promise<void>
}

/**
 * The ledger in one SQLite file: the zero-configuration default. It runs on
 * the same SQLite driver as Bastion's store (`driver`, default
 * `BASTION_SQLITE_DRIVER`, else the default for this Node), opened the same
 * way: WAL, synchronous=FULL, busy_timeout 5 s.
 */
export function sqliteLedger(file: string, options: { driver?: SqliteDriverName } = {}): Ledger {
  return new SqliteLedger(file, options.driver ?? sqliteDriverFromEnv(process.env))
}

class SqliteLedger implements Ledger {
  private readonly db: SqliteDatabase
  private readonly statements = new Map<string, SqliteStatement>()

  constructor(file: string, driver: SqliteDriverName | undefined) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
    this.db = openSqlite(file, { driver, busyTimeoutMs: 5000 })
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS accounts (
        user_id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        balance INTEGER NOT NULL CHECK (balance >= 0)
      );
      CREATE TABLE IF NOT EXISTS transfers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        from_user TEXT NOT NULL REFERENCES accounts(user_id),
        to_user TEXT NOT NULL REFERENCES accounts(user_id),
        amount INTEGER NOT NULL CHECK (amount > 0),
        created_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS transfers_from ON transfers(from_user, id);
      CREATE INDEX IF NOT EXISTS transfers_to ON transfers(to_user, id);
    `)
  }

  private stmt(sql: string): SqliteStatement {
    let s = this.statements.get(sql)
    if (s === undefined) {
      s = this.db.prepare(sql)
      this.statements.set(sql, s)
    }
    return s
  }

  async ensureAccount(userId: string, username: string, balance: number): Promise<void> {
    this.stmt('INSERT OR IGNORE INTO accounts (user_id, username, balance) VALUES (?, ?, ?)').run(userId, username, balance)
  }

  async balanceOf(userId: string): Promise<number | null> {
    const row = this.stmt('SELECT balance FROM accounts WHERE user_id = ?').get<{ balance: number }>(userId)
    return row?.balance ?? null
  }

  async balanceByUsername(username: string): Promise<number | null> {
    const row = this.stmt('SELECT balance FROM accounts WHERE username = ?').get<{ balance: number }>(username)
    return row?.balance ?? null
  }

  async total(): Promise<number> {
    return this.stmt('SELECT COALESCE(SUM(balance), 0) AS t FROM accounts').get<{ t: number }>()!.t
  }

  async transfer(fromUserId: string, toUsername: string, amount: number): Promise<TransferRecord> {
    return this.db.immediate((): TransferRecord => {
      const to = this.stmt('SELECT user_id, username FROM accounts WHERE username = ?').get<{ user_id: string; username: string }>(toUsername)
      if (!to) throw new LedgerError('not_found', `No account named ${toUsername}.`)
      if (to.user_id === fromUserId) throw new LedgerError('bad_request', 'You cannot send money to yourself.')
      const from = this.stmt('SELECT username, balance FROM accounts WHERE user_id = ?').get<{ username: string; balance: number }>(fromUserId)
      if (!from) throw new LedgerError('not_found', 'You have no account.')
      if (from.balance < amount) throw new LedgerError('bad_request', 'Insufficient funds.')
      this.stmt('UPDATE accounts SET balance = balance - ? WHERE user_id = ?').run(amount, fromUserId)
      this.stmt('UPDATE accounts SET balance = balance + ? WHERE user_id = ?').run(amount, to.user_id)
      const createdAt = Date.now()
      const { lastInsertRowid } = this.stmt('INSERT INTO transfers (from_user, to_user, amount, created_at) VALUES (?, ?, ?, ?)').run(
        fromUserId,
        to.user_id,
        amount,
        createdAt,
      )
      return { id: Number(lastInsertRowid), from: from.username, to: to.username, amount, createdAt: new Date(createdAt).toISOString() }
    })
  }

  async history(userId: string, limit = 50): Promise<TransferRecord[]> {
    const rows = this.stmt(
      `SELECT t.id, f.username AS "from", r.username AS "to", t.amount, t.created_at AS createdAt
       FROM transfers t JOIN accounts f ON f.user_id = t.from_user JOIN accounts r ON r.user_id = t.to_user
       WHERE t.from_user = ? OR t.to_user = ? ORDER BY t.id DESC LIMIT ?`,
    ).all<Omit<TransferRecord, 'createdAt'> & { createdAt: number }>(userId, userId, limit)
    return rows.map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString() }))
  }

  async close(): Promise<void> {
    this.db.close()
  }
}
