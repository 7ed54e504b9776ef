/**
 * The `better-sqlite3` half of the driver seam (Node 20 and 22, where the
 * built-in node:sqlite is missing or experimental). The addon is handed in by
 * driver.ts (`require`, on first use); its few shapes are declared here so
 * nothing depends on @types/better-sqlite3.
 */
import type { NativeConnection, NativeDriver, SqliteErrorKind, SqliteStatement } from './driver.ts'

/** `Database`, as far as it is used. */
export interface BetterSqliteDatabase {
  readonly open: boolean
  readonly inTransaction: boolean
  exec(sql: string): unknown
  /** `Statement`: positional `run`/`get`/`all` have the seam's shape already. */
  prepare(sql: string): SqliteStatement
  close(): unknown
}

/** What `require('better-sqlite3')` (or `@bastion/sqlite-addon`) gives: the Database class. */
export interface BetterSqliteConstructor {
  new (file: string, options?: { readonly?: boolean }): BetterSqliteDatabase
  /** Its error class: `code` is the extended result code's name, e.g. 'SQLITE_CONSTRAINT_UNIQUE'. */
  readonly SqliteError: abstract new (...args: never[]) => Error & { code: string }
}

/**
 * better-sqlite3 throws `SqliteError` (code: the result code's name) for
 * SQLite's errors, and a TypeError "The database connection is not open" for
 * a call on a closed database (its statements included).
 */
export function betterSqliteClassifier(Database: BetterSqliteConstructor): (e: unknown) => SqliteErrorKind | null {
  return (e) => {
    if (e instanceof Database.SqliteError) {
      const code = e.code
      if (code.startsWith('SQLITE_CONSTRAINT_UNIQUE') || code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY')) return 'unique'
      if (code.startsWith('SQLITE_CONSTRAINT')) return 'constraint'
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy'
      return 'error'
    }
    if (e instanceof TypeError && /database connection is not open/i.test(e.message)) return 'closed'
    return null
  }
}

export function betterSqliteNative(Database: BetterSqliteConstructor): NativeDriver {
  return {
    name: 'better-sqlite3',
    classify: betterSqliteClassifier(Database),
    open(file, { readonly }): NativeConnection {
      const db = new Database(file, { readonly })
      return {
        get isOpen() {
          return db.open
        },
        get inTransaction() {
          return db.open && db.inTransaction
        },
        exec: (sql) => void db.exec(sql),
        prepare: (sql) => db.prepare(sql),
        close: () => void db.close(),
      }
    },
  }
}
