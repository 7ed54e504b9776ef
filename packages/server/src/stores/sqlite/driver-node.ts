/**
 * The `node:sqlite` half of the driver seam (Node 24+; 22.13+ with an
 * ExperimentalWarning). @types/node here is v20, which has no `node:sqlite`:
 * the few shapes used are declared below. The module itself is handed in by
 * driver.ts (`process.getBuiltinModule`), never imported.
 */
import type { NativeConnection, NativeDriver, SqliteErrorKind, SqliteStatement } from './driver.ts'

/** `DatabaseSync`, as far as it is used. */
export interface NodeDatabaseSync {
  exec(sql: string): void
  /** `StatementSync`: positional `run`/`get`/`all` have the seam's shape already (rows with a null prototype). */
  prepare(sql: string): SqliteStatement
  close(): void
  /** Since 22.15; older: tracked here. */
  readonly isOpen?: boolean
  /** Since 22.16; throws once closed. */
  readonly isTransaction?: boolean
}

export interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => NodeDatabaseSync
}

/** The shape of what node:sqlite throws for a failed SQLite call (a plain Error). */
interface NodeSqliteError extends Error {
  code: 'ERR_SQLITE_ERROR'
  /** The extended result code, e.g. 2067 SQLITE_CONSTRAINT_UNIQUE, 1555 SQLITE_CONSTRAINT_PRIMARYKEY. */
  errcode: number
  /** sqlite3_errstr of it, e.g. "constraint failed". */
  errstr: string
}

const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6
const SQLITE_CONSTRAINT = 19
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555
const SQLITE_CONSTRAINT_UNIQUE = 2067

/**
 * node:sqlite throws `Error`s: `code: 'ERR_SQLITE_ERROR'` with the numeric
 * extended code in `errcode` for SQLite's own errors, and
 * `code: 'ERR_INVALID_STATE'` ("database is not open", "statement has been
 * finalized") for a call on a closed database or on a statement it finalized.
 */
export function classifyNodeSqliteError(e: unknown): SqliteErrorKind | null {
  if (!(e instanceof Error)) return null
  const code = (e as Partial<NodeSqliteError>).code
  if (code === 'ERR_SQLITE_ERROR') {
    const errcode = (e as Partial<NodeSqliteError>).errcode
    if (typeof errcode !== 'number') return 'error'
    if (errcode === SQLITE_CONSTRAINT_UNIQUE || errcode === SQLITE_CONSTRAINT_PRIMARYKEY) return 'unique'
    const primary = errcode & 0xff
    if (primary === SQLITE_CONSTRAINT) return 'constraint'
    if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED) return 'busy'
    return 'error'
  }
  if (code === 'ERR_INVALID_STATE' && /database is not open|statement has been finalized/i.test(e.message)) return 'closed'
  return null
}

export function nodeSqliteNative(mod: NodeSqliteModule): NativeDriver {
  return {
    name: 'node:sqlite',
    classify: classifyNodeSqliteError,
    open(file, { readonly }): NativeConnection {
      const db = new mod.DatabaseSync(file, { readOnly: readonly })
      let closed = false
      const isOpen = (): boolean => (typeof db.isOpen === 'boolean' ? db.isOpen : !closed)
      return {
        get isOpen() {
          return isOpen()
        },
        get inTransaction() {
          if (!isOpen()) return false
          const t = db.isTransaction
          return typeof t === 'boolean' ? t : undefined
        },
        exec: (sql) => db.exec(sql),
        prepare: (sql) => db.prepare(sql),
        close() {
          closed = true
          db.close()
        },
      }
    },
  }
}
