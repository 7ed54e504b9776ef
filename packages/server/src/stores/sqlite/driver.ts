/**
 * The seam between the SQLite store and the SQLite library under it: Node's
 * built-in `node:sqlite` (Node 24+, and 22.13+ with an ExperimentalWarning)
 * or the `better-sqlite3` addon (Node 20 and 22). Both write the same file
 * format; the store (and the demo's ledger) use only what is declared here.
 *
 * Loading is lazy and synchronous: nothing is loaded until a database is
 * opened, the addon is loaded with `require` (never imported), and
 * `node:sqlite` with `process.getBuiltinModule`, so Node 20 never sees an
 * import of a module it does not have.
 *
 * @example
 * ```ts
 * const db = openSqlite('./data/app.sqlite') // WAL, synchronous=FULL, busy_timeout, foreign_keys
 * const add = db.prepare('INSERT INTO t (id, n) VALUES (?, ?)')
 * db.immediate(() => add.run('a', 1)) // BEGIN IMMEDIATE … COMMIT, ROLLBACK on any throw
 * ```
 */
import { createRequire } from 'node:module'
import { ConfigError } from '../../errors.ts'
import { betterSqliteNative, type BetterSqliteConstructor } from './driver-better.ts'
import { nodeSqliteNative, type NodeSqliteModule } from './driver-node.ts'

export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3'

/** Every driver, in no particular order. */
export const SQLITE_DRIVERS: readonly SqliteDriverName[] = ['node:sqlite', 'better-sqlite3']

/** What SQLite stores and gives back (integers come back as numbers, blobs as bytes). */
export type SqliteValue = null | number | bigint | string | Uint8Array

/** A result row; with `node:sqlite` it has a null prototype, so copy it rather than rely on `Object.prototype`. */
export type SqliteRow = { readonly [column: string]: SqliteValue }

export interface SqliteRunResult {
  changes: number | bigint
  lastInsertRowid: number | bigint
}

/**
 * A prepared statement. Parameters are positional (`?`) only: the two
 * drivers disagree on named ones. `get` answers `undefined` when there is no
 * row. The row type parameter is the caller's word about the columns it
 * selected; nothing checks it.
 */
export interface SqliteStatement {
  run(...params: SqliteValue[]): SqliteRunResult
  get<R extends object = SqliteRow>(...params: SqliteValue[]): R | undefined
  all<R extends object = SqliteRow>(...params: SqliteValue[]): R[]
}

/** How a thrown value relates to SQLite; `null`: it is not a SQLite error (a bug, a ConfigError…). */
export type SqliteErrorKind =
  /** A UNIQUE or PRIMARY KEY constraint refused the write. */
  | 'unique'
  /** Any other constraint (CHECK, NOT NULL, FOREIGN KEY). */
  | 'constraint'
  /** SQLITE_BUSY / SQLITE_LOCKED: another connection held the lock past busy_timeout. */
  | 'busy'
  /** The database (or the statement, with it) is closed. */
  | 'closed'
  /** Any other SQLite error (I/O, a corrupt file, bad SQL). */
  | 'error'

export interface SqliteDatabase {
  readonly driver: SqliteDriverName
  readonly isOpen: boolean
  readonly inTransaction: boolean
  /** Runs one or more statements, discarding any rows. */
  exec(sql: string): void
  prepare(sql: string): SqliteStatement
  /**
   * Runs `body` in a write transaction: `BEGIN IMMEDIATE` (the write lock is
   * taken first, so two writers never deadlock on an upgrade), `COMMIT` when
   * it returns, `ROLLBACK` when it (or the commit) throws, and the error is
   * rethrown. Called inside another `immediate`, it is a SAVEPOINT that the
   * inner failure rolls back to, leaving the outer transaction to decide.
   * `body` must be synchronous: one that returns a promise is refused
   * (rolled back) with a TypeError.
   */
  immediate<T>(body: () => T): T
  /** Same as the driver's `classify`. */
  classify(error: unknown): SqliteErrorKind | null
  /** Closes the database; closing again does nothing. */
  close(): void
}

export interface SqliteOpenOptions {
  /** Default: the best driver this Node has (see `resolveSqliteDriver`). */
  driver?: SqliteDriverName
  /**
   * Opens the file read-only and leaves its journal mode alone. Otherwise the
   * database is made durable: `journal_mode=WAL`, `synchronous=FULL` (a
   * commit is on disk before it is acknowledged, even if the process is
   * killed), `foreign_keys=ON`.
   */
  readonly?: boolean
  /** How long to wait for another connection's lock, in ms (PRAGMA busy_timeout). Default 5000. */
  busyTimeoutMs?: number
}

/** One loaded driver. */
export interface SqliteDriver {
  readonly name: SqliteDriverName
  open(file: string, options?: Omit<SqliteOpenOptions, 'driver'>): SqliteDatabase
  classify(error: unknown): SqliteErrorKind | null
}

// ---- the part each driver implements ----------------------------------------

/** What each driver file provides: a way to open its native handle, and its error classifier. */
export interface NativeDriver {
  readonly name: SqliteDriverName
  open(file: string, options: { readonly: boolean }): NativeConnection
  classify(error: unknown): SqliteErrorKind | null
}

/** The little each driver adapts its native handle to; `Connection` builds the rest on it, once for both. */
export interface NativeConnection {
  readonly isOpen: boolean
  /** `undefined`: the driver cannot tell (node:sqlite before 22.16); the runner's own depth is used. */
  readonly inTransaction: boolean | undefined
  exec(sql: string): void
  prepare(sql: string): SqliteStatement
  close(): void
}

const isThenable = (v: unknown): boolean =>
  (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function'

/** The one implementation of `SqliteDatabase` over either driver: the transaction runner lives here. */
export class Connection implements SqliteDatabase {
  /** How many `immediate` calls are running on this connection (0: none; 1: the outer one; more: savepoints). */
  private depth = 0
  private tx: { begin: SqliteStatement; commit: SqliteStatement; rollback: SqliteStatement; savepoint: SqliteStatement; release: SqliteStatement; rollbackTo: SqliteStatement } | undefined

  constructor(
    private readonly native: NativeConnection,
    private readonly owner: SqliteDriver,
  ) {}

  get driver(): SqliteDriverName {
    return this.owner.name
  }
  get isOpen(): boolean {
    return this.native.isOpen
  }
  get inTransaction(): boolean {
    return this.native.inTransaction ?? this.depth > 0
  }

  exec(sql: string): void {
    this.native.exec(sql)
  }
  prepare(sql: string): SqliteStatement {
    return this.native.prepare(sql)
  }
  classify(error: unknown): SqliteErrorKind | null {
    return this.owner.classify(error)
  }

  immediate<T>(body: () => T): T {
    // Prepared once per connection: the hot path (a refresh rotation) pays no parse for its BEGIN/COMMIT.
    const tx = (this.tx ??= {
      begin: this.native.prepare('BEGIN IMMEDIATE'),
      commit: this.native.prepare('COMMIT'),
      rollback: this.native.prepare('ROLLBACK'),
      savepoint: this.native.prepare('SAVEPOINT bastion_tx'),
      release: this.native.prepare('RELEASE bastion_tx'),
      rollbackTo: this.native.prepare('ROLLBACK TO bastion_tx'),
    })
    // Nesting is decided by this runner's own depth, never by "is a transaction open?": a transaction
    // left open by a failed ROLLBACK (or a stray BEGIN) then makes BEGIN IMMEDIATE fail loudly,
    // instead of every later write silently becoming a savepoint that is never committed.
    const nested = this.depth > 0
    ;(nested ? tx.savepoint : tx.begin).run()
    this.depth++
    try {
      const result = body()
      if (isThenable(result)) throw new TypeError('a SQLite transaction body must be synchronous; this one returned a promise')
      ;(nested ? tx.release : tx.commit).run()
      return result
    } catch (e) {
      // SQLite may already have rolled the whole transaction back by itself (SQLITE_FULL, some I/O
      // errors); then there is nothing left to undo, and a ROLLBACK would only throw.
      if (this.native.inTransaction ?? true) {
        try {
          if (nested) {
            tx.rollbackTo.run()
            tx.release.run()
          } else {
            tx.rollback.run()
          }
        } catch {
          // The body's error is the one worth reporting. If the transaction is still open, the next
          // outer immediate() fails at BEGIN (see above): fail closed, never half-committed.
        }
      }
      throw e
    } finally {
      this.depth--
    }
  }

  close(): void {
    if (this.native.isOpen) this.native.close()
  }
}

// ---- choosing and loading ---------------------------------------------------

/** One attempt to load a driver: the driver, or why not (`missing`: simply not there, as opposed to broken). */
export type DriverAttempt = { ok: true; driver: SqliteDriver } | { ok: false; missing: boolean; reason: string }

/** What the choice depends on; replaced in tests. */
export interface DriverEnvironment {
  nodeVersion: string
  load(name: SqliteDriverName): DriverAttempt
}

const require = createRequire(import.meta.url)

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}
const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim()

function loadNodeSqlite(): DriverAttempt {
  let mod: object | undefined
  try {
    // undefined on a Node without it (20), or where it still needs --experimental-sqlite (22.5–22.12).
    mod = process.getBuiltinModule?.('node:sqlite')
  } catch (e) {
    return { ok: false, missing: true, reason: firstLine(e) }
  }
  if (mod === undefined || typeof (mod as Partial<NodeSqliteModule>).DatabaseSync !== 'function') {
    return {
      ok: false,
      missing: true,
      reason: `Node ${process.version} has no built-in node:sqlite (it needs Node 22.13+, and Node 24+ to have it without an ExperimentalWarning)`,
    }
  }
  return { ok: true, driver: driverOf(nodeSqliteNative(mod as NodeSqliteModule)) }
}

/** The addon: first as `@bastion/sqlite-addon` (installed only on Node < 24), then `better-sqlite3` itself. */
function loadBetterSqlite(): DriverAttempt {
  const broken: string[] = []
  for (const name of ['@bastion/sqlite-addon', 'better-sqlite3']) {
    let Database: BetterSqliteConstructor
    try {
      Database = require(name) as BetterSqliteConstructor
    } catch (e) {
      if (errorCode(e) === 'MODULE_NOT_FOUND') continue
      broken.push(`${name} cannot be loaded (${firstLine(e)})`)
      continue
    }
    // The native binding is loaded by the first `new Database`, not by `require`: try one.
    try {
      new Database(':memory:').close()
    } catch (e) {
      broken.push(
        errorCode(e) === 'ERR_DLOPEN_FAILED'
          ? `${name} is installed but its native addon was built for another Node version than ${process.version} (ERR_DLOPEN_FAILED); rebuild it: npm rebuild better-sqlite3`
          : `${name} is installed but cannot open a database (${firstLine(e)}); reinstall it: npm rebuild better-sqlite3`,
      )
      continue
    }
    return { ok: true, driver: driverOf(betterSqliteNative(Database)) }
  }
  return broken.length > 0
    ? { ok: false, missing: false, reason: broken.join('; ') }
    : { ok: false, missing: true, reason: 'better-sqlite3 is not installed; install it: npm install better-sqlite3' }
}

/** A driver from its native part: every database it opens gets the same pragmas and the same transaction runner. */
function driverOf(native: NativeDriver): SqliteDriver {
  const driver: SqliteDriver = {
    name: native.name,
    classify: (e) => native.classify(e),
    open(file, options = {}) {
      const conn = native.open(file, { readonly: options.readonly === true })
      try {
        conn.exec(initialPragmas(options))
      } catch (e) {
        conn.close()
        throw e
      }
      return new Connection(conn, driver)
    },
  }
  return driver
}

const attempts = new Map<SqliteDriverName, DriverAttempt>()
const realEnvironment: DriverEnvironment = {
  nodeVersion: process.version,
  load(name) {
    let a = attempts.get(name)
    if (a === undefined) {
      a = name === 'node:sqlite' ? loadNodeSqlite() : loadBetterSqlite()
      attempts.set(name, a)
    }
    return a
  },
}

export const NO_SQLITE_DRIVER =
  'the embedded SQLite store needs Node 24+ (built-in node:sqlite) or the better-sqlite3 package on Node 20/22: npm install better-sqlite3'

const majorOf = (version: string): number => Number(/^v?(\d+)/.exec(version)?.[1] ?? 0)

/**
 * The driver to use. Asked for by name: that one, or a ConfigError saying why
 * it cannot load. Else the default for this Node: `node:sqlite` on 24+; on
 * older lines the addon (`@bastion/sqlite-addon`, then `better-sqlite3`),
 * else `node:sqlite` where it exists (22.13+, with Node's ExperimentalWarning),
 * else a ConfigError saying what to install.
 */
export function resolveSqliteDriver(requested?: SqliteDriverName, env: DriverEnvironment = realEnvironment): SqliteDriver {
  if (requested !== undefined) {
    if (!SQLITE_DRIVERS.includes(requested)) {
      throw new ConfigError(`unknown SQLite driver "${String(requested)}": use "node:sqlite" or "better-sqlite3".`)
    }
    const a = env.load(requested)
    if (a.ok) return a.driver
    const other: SqliteDriverName = requested === 'node:sqlite' ? 'better-sqlite3' : 'node:sqlite'
    const hint = env.load(other).ok ? `; ${other} is available here: leave the driver unset to use it` : ''
    throw new ConfigError(`the SQLite driver "${requested}" was asked for (BASTION_SQLITE_DRIVER or the driver option) but cannot load on Node ${env.nodeVersion}: ${a.reason}${hint}`)
  }
  const order: SqliteDriverName[] = majorOf(env.nodeVersion) >= 24 ? ['node:sqlite', 'better-sqlite3'] : ['better-sqlite3', 'node:sqlite']
  const failures: string[] = []
  for (const name of order) {
    const a = env.load(name)
    if (a.ok) return a.driver
    if (!a.missing) failures.push(a.reason)
  }
  throw new ConfigError(failures.length > 0 ? `${NO_SQLITE_DRIVER} (found but broken: ${failures.join('; ')})` : NO_SQLITE_DRIVER)
}

/** The drivers that load in this process (for tests and the bench); loading one has no effect beyond that. */
export function availableSqliteDrivers(env: DriverEnvironment = realEnvironment): SqliteDriverName[] {
  return SQLITE_DRIVERS.filter((name) => env.load(name).ok)
}

/** Opens (creating it if need be, unless read-only) a SQLite database with the chosen driver. */
export function openSqlite(file: string, options: SqliteOpenOptions = {}): SqliteDatabase {
  const { driver, ...rest } = options
  return resolveSqliteDriver(driver).open(file, rest)
}

/**
 * The driver named by `BASTION_SQLITE_DRIVER` (unset or empty: `undefined`,
 * the default choice). Anything else than the two names is a ConfigError.
 */
export function sqliteDriverFromEnv(env: NodeJS.ProcessEnv): SqliteDriverName | undefined {
  const raw = env.BASTION_SQLITE_DRIVER?.trim()
  if (raw === undefined || raw === '') return undefined
  if ((SQLITE_DRIVERS as readonly string[]).includes(raw)) return raw as SqliteDriverName
  throw new ConfigError(`BASTION_SQLITE_DRIVER must be "node:sqlite" or "better-sqlite3" (or unset for the default), got "${raw}".`)
}

/** The pragmas every writable database gets, in this order (busy_timeout first: switching to WAL needs a lock another process may hold). */
export function initialPragmas(options: Omit<SqliteOpenOptions, 'driver'>): string {
  const busy = `PRAGMA busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))};`
  return options.readonly ? busy : `${busy} PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;`
}
