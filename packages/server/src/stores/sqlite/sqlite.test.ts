import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError, StoreConflictError } from '../../errors.ts'
import { describeStoreConformance } from '../conformance.ts'
import {
  availableSqliteDrivers,
  NO_SQLITE_DRIVER,
  openSqlite,
  resolveSqliteDriver,
  SQLITE_DRIVERS,
  sqliteDriverFromEnv,
  type DriverAttempt,
  type DriverEnvironment,
  type SqliteDatabase,
  type SqliteDriver,
  type SqliteDriverName,
} from './driver.ts'
import { sqliteStore } from './index.ts'
import { migrations } from './migrations.ts'

const dir = mkdtempSync(join(tmpdir(), 'bastion-sqlite-'))
let n = 0
const tmpFile = () => join(dir, `nested/${process.pid}-${++n}.db`)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

const NODE_MAJOR = Number(process.versions.node.split('.')[0])
/** The drivers that load in this Node; every suite below runs once on each. */
const drivers = availableSqliteDrivers()
const unavailable = SQLITE_DRIVERS.filter((d) => !drivers.includes(d))
console.info(`SQLite drivers on Node ${process.version}: ${drivers.join(', ') || 'none'} (not loadable here: ${unavailable.join(', ') || 'none'})`)

/** The default the store must pick on this Node line. */
const expectedDefault: SqliteDriverName =
  NODE_MAJOR >= 24 ? 'node:sqlite' : NODE_MAJOR < 22 || drivers.includes('better-sqlite3') ? 'better-sqlite3' : 'node:sqlite'

/** One value of a one-column row (PRAGMA answers name their column differently). */
const scalar = (db: SqliteDatabase, sql: string): unknown => Object.values(db.prepare(sql).get() ?? {})[0]

describe('the SQLite driver for this Node', () => {
  it(`is the default for Node ${NODE_MAJOR} (${expectedDefault})`, async () => {
    const store = sqliteStore({ file: ':memory:' })
    console.info(`default SQLite driver on Node ${process.version}: ${store.driver}`)
    expect(store.driver).toBe(expectedDefault)
    expect(resolveSqliteDriver().name).toBe(expectedDefault)
    await store.migrate()
    await store.close()
  })

  it('loads at least one driver', () => {
    expect(drivers.length).toBeGreaterThan(0)
  })

  it.each(unavailable.length > 0 ? unavailable : ['(none)'])('refuses %s, asked for but not loadable here, with a ConfigError saying why', (name) => {
    if (name === '(none)') return console.info('every driver loads on this Node: nothing to refuse')
    const driver = name as SqliteDriverName
    let error: unknown
    try {
      sqliteStore({ file: join(dir, 'never-created', 'x.db'), driver })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as Error).message
    console.info(`asking for ${driver} on Node ${process.version}: ${message}`)
    expect(message).toContain(`the SQLite driver "${driver}" was asked for`)
    if (driver === 'node:sqlite') {
      expect(message).toContain(`Node ${process.version} has no built-in node:sqlite`)
    } else {
      let installed = true
      try {
        createRequire(import.meta.url).resolve('better-sqlite3')
      } catch {
        installed = false
      }
      // Here better-sqlite3 is installed, compiled for another Node line than this one.
      expect(message).toMatch(installed ? /ERR_DLOPEN_FAILED\); rebuild it: npm rebuild better-sqlite3/ : /npm install better-sqlite3/)
    }
    if (drivers.length > 0) expect(message).toContain(`${drivers[0]} is available here: leave the driver unset to use it`)
  })
})

describe('choosing a driver', () => {
  const fake = (name: SqliteDriverName): SqliteDriver => ({
    name,
    open: () => {
      throw new Error('not in this test')
    },
    classify: () => null,
  })
  const missing: DriverAttempt = { ok: false, missing: true, reason: 'not here' }
  const envOf = (nodeVersion: string, has: Partial<Record<SqliteDriverName, DriverAttempt | true>>): DriverEnvironment => ({
    nodeVersion,
    load: (name) => {
      const a = has[name]
      return a === true ? { ok: true, driver: fake(name) } : (a ?? missing)
    },
  })
  const both = { 'node:sqlite': true, 'better-sqlite3': true } as const

  it('prefers node:sqlite on 24+, the addon on 20 and 22, node:sqlite on 22 without the addon', () => {
    expect(resolveSqliteDriver(undefined, envOf('v24.0.0', both)).name).toBe('node:sqlite')
    expect(resolveSqliteDriver(undefined, envOf('v26.1.0', both)).name).toBe('node:sqlite')
    expect(resolveSqliteDriver(undefined, envOf('v22.13.0', both)).name).toBe('better-sqlite3')
    expect(resolveSqliteDriver(undefined, envOf('v22.13.0', { 'node:sqlite': true })).name).toBe('node:sqlite')
    expect(resolveSqliteDriver(undefined, envOf('v20.19.0', { 'better-sqlite3': true })).name).toBe('better-sqlite3')
    // A Node 24 built without SQLite still runs on the addon.
    expect(resolveSqliteDriver(undefined, envOf('v24.0.0', { 'better-sqlite3': true })).name).toBe('better-sqlite3')
    expect(resolveSqliteDriver('better-sqlite3', envOf('v24.0.0', both)).name).toBe('better-sqlite3')
    expect(resolveSqliteDriver('node:sqlite', envOf('v22.13.0', both)).name).toBe('node:sqlite')
  })

  it('says exactly what to do when no driver loads', () => {
    expect(() => resolveSqliteDriver(undefined, envOf('v20.19.0', {}))).toThrow(new ConfigError(NO_SQLITE_DRIVER))
    expect(NO_SQLITE_DRIVER).toBe(
      'the embedded SQLite store needs Node 24+ (built-in node:sqlite) or the better-sqlite3 package on Node 20/22: npm install better-sqlite3',
    )
    const broken: DriverAttempt = { ok: false, missing: false, reason: 'better-sqlite3 is installed but … (ERR_DLOPEN_FAILED); rebuild it: npm rebuild better-sqlite3' }
    expect(() => resolveSqliteDriver(undefined, envOf('v20.19.0', { 'better-sqlite3': broken }))).toThrow(
      `${NO_SQLITE_DRIVER} (found but broken: ${broken.reason})`,
    )
  })

  it('refuses an unknown driver name, from the option and from BASTION_SQLITE_DRIVER', () => {
    expect(() => resolveSqliteDriver('sqlite3' as SqliteDriverName, envOf('v24.0.0', both))).toThrow(ConfigError)
    expect(sqliteDriverFromEnv({})).toBeUndefined()
    expect(sqliteDriverFromEnv({ BASTION_SQLITE_DRIVER: '' })).toBeUndefined()
    expect(sqliteDriverFromEnv({ BASTION_SQLITE_DRIVER: 'node:sqlite' })).toBe('node:sqlite')
    expect(sqliteDriverFromEnv({ BASTION_SQLITE_DRIVER: ' better-sqlite3 ' })).toBe('better-sqlite3')
    expect(() => sqliteDriverFromEnv({ BASTION_SQLITE_DRIVER: 'node' })).toThrow(/BASTION_SQLITE_DRIVER must be "node:sqlite" or "better-sqlite3"/)
  })
})

const bothLoad = drivers.length === SQLITE_DRIVERS.length
const crossSkip = bothLoad ? '' : ` (skipped: only ${drivers.join(', ') || 'no driver'} loads on Node ${process.version}; both load only on Node 22.13+ with better-sqlite3 built for it)`
if (!bothLoad) console.info(`cross-driver file test${crossSkip}`)

describe('one file, two drivers', () => {
  it.skipIf(!bothLoad)(`a file written by either driver is read and written by the other${crossSkip}`, async () => {
    for (const [writer, reader] of [['better-sqlite3', 'node:sqlite'], ['node:sqlite', 'better-sqlite3']] as const) {
      const file = tmpFile()
      const a = sqliteStore({ file, driver: writer })
      await a.migrate()
      await a.createUser({ id: 'u1', username: 'ada', passwordHash: 'h', createdAt: 1 })
      const s = await a.createSession({
        id: 's1', userId: 'u1', kind: 'cookie', now: 1, expiresAt: 10_000, refreshExpiresAt: 5_000,
        userAgent: 'ua', ip: null, tokenSalt: 'r0',
      })
      await a.rotateRefresh({ sessionId: 's1', presented: { generation: 0 }, tokenSalt: 'x', now: 2, graceMs: 0, refreshExpiresAt: () => 6_000 })
      await a.close()
      const b = sqliteStore({ file, driver: reader })
      expect(b.driver).toBe(reader)
      await b.migrate()
      expect(await b.findUserById('u1')).toEqual({ id: 'u1', username: 'ada', passwordHash: 'h', createdAt: 1 })
      expect(await b.findSession('s1')).toEqual({ ...s, generation: 1, lastUsedAt: 2, rotatedAt: 2, refreshExpiresAt: 6_000 })
      expect((await b.rotateRefresh({ sessionId: 's1', presented: { generation: 0 }, tokenSalt: 'x', now: 3, graceMs: 0, refreshExpiresAt: () => 7_000 })).kind).toBe('reused')
      await b.close()
      const check = openSqlite(file, { driver: writer, readonly: true })
      expect(scalar(check, 'PRAGMA integrity_check')).toBe('ok')
      expect(scalar(check, "SELECT revoked_reason FROM sessions WHERE id = 's1'")).toBe('refresh_token_reuse')
      check.close()
    }
  })
})

describe.each(drivers)('on %s', (driver) => {
  describeStoreConformance(`sqlite on ${driver} (file)`, async () => sqliteStore({ file: tmpFile(), driver }))
  describeStoreConformance(`sqlite on ${driver} (:memory:)`, async () => sqliteStore({ file: ':memory:', driver }))

  describe('the driver seam', () => {
    const open = (file = tmpFile(), busyTimeoutMs?: number) => {
      const db = openSqlite(file, { driver, busyTimeoutMs })
      db.exec('CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, u TEXT UNIQUE, n INTEGER NOT NULL CHECK (n >= 0))')
      return db
    }
    const count = (db: SqliteDatabase) => db.prepare('SELECT COUNT(*) AS c FROM t').get<{ c: number }>()!.c

    it('opens durable: WAL, synchronous=FULL, busy_timeout, foreign_keys', () => {
      const db = open()
      expect(db.driver).toBe(driver)
      expect(scalar(db, 'PRAGMA journal_mode')).toBe('wal')
      expect(scalar(db, 'PRAGMA synchronous')).toBe(2) // FULL
      expect(scalar(db, 'PRAGMA busy_timeout')).toBe(5000)
      expect(scalar(db, 'PRAGMA foreign_keys')).toBe(1)
      db.close()
      db.close() // a second close does nothing
      expect(db.isOpen).toBe(false)
    })

    it('gives rows with numbers (not bigints), undefined for no row, and run() changes', () => {
      const db = open(':memory:')
      const ins = db.prepare('INSERT INTO t (id, u, n) VALUES (?, ?, ?)')
      expect(Number(ins.run('a', null, 1_700_000_000_000).changes)).toBe(1)
      expect(db.prepare('SELECT * FROM t WHERE id = ?').get('a')).toEqual({ id: 'a', u: null, n: 1_700_000_000_000 })
      expect(db.prepare('SELECT * FROM t WHERE id = ?').get('nope')).toBeUndefined()
      expect(db.prepare('SELECT id FROM t').all()).toEqual([{ id: 'a' }])
      db.close()
    })

    it('commits an immediate() body, rolls it back on any throw and rethrows', () => {
      const db = open(':memory:')
      const ins = db.prepare('INSERT INTO t (id, n) VALUES (?, ?)')
      expect(db.immediate(() => ins.run('a', 1).changes)).toBe(1)
      const boom = new Error('boom')
      expect(() =>
        db.immediate(() => {
          ins.run('b', 1)
          throw boom
        }),
      ).toThrow(boom)
      expect(db.inTransaction).toBe(false)
      expect(count(db)).toBe(1)
      // A failing statement rolls back the writes before it too.
      expect(() =>
        db.immediate(() => {
          ins.run('c', 1)
          ins.run('a', 1)
        }),
      ).toThrow()
      expect(count(db)).toBe(1)
      // A body that returns a promise is refused and rolled back.
      expect(() => db.immediate(() => Promise.resolve(ins.run('d', 1)))).toThrow(/must be synchronous/)
      expect(count(db)).toBe(1)
      expect(db.immediate(() => ins.run('e', 1).changes)).toBe(1)
      expect(count(db)).toBe(2)
      db.close()
    })

    it('nests as savepoints: an inner failure undoes only the inner writes', () => {
      const db = open(':memory:')
      const ins = db.prepare('INSERT INTO t (id, n) VALUES (?, ?)')
      db.immediate(() => {
        ins.run('outer', 1)
        expect(() =>
          db.immediate(() => {
            ins.run('inner', 1)
            throw new Error('inner')
          }),
        ).toThrow('inner')
        db.immediate(() => ins.run('inner-ok', 1))
        expect(db.inTransaction).toBe(true)
      })
      expect(db.prepare('SELECT id FROM t ORDER BY id').all<{ id: string }>().map((r) => r.id)).toEqual(['inner-ok', 'outer'])
      // An outer failure undoes the inner, released writes with it.
      expect(() =>
        db.immediate(() => {
          db.immediate(() => ins.run('gone', 1))
          throw new Error('outer')
        }),
      ).toThrow('outer')
      expect(count(db)).toBe(2)
      db.close()
    })

    it('takes the write lock at BEGIN IMMEDIATE: a second writer waits, then is told busy; readers are not blocked', () => {
      const file = tmpFile()
      const a = open(file)
      const b = open(file, 0)
      a.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('x', 1)
      a.immediate(() => {
        let error: unknown
        try {
          b.immediate(() => undefined)
        } catch (e) {
          error = e
        }
        expect(b.classify(error)).toBe('busy')
        expect(b.inTransaction).toBe(false)
        expect(count(b)).toBe(1)
      })
      expect(b.immediate(() => b.prepare('INSERT INTO t (id, n) VALUES (?, ?)').run('y', 1).changes)).toBe(1)
      a.close()
      b.close()
    })

    it('classifies errors: unique and primary key, other constraints, closed, not SQLite', () => {
      const db = open(':memory:')
      const ins = db.prepare('INSERT INTO t (id, u, n) VALUES (?, ?, ?)')
      ins.run('a', 'x', 1)
      const thrown = (f: () => unknown): unknown => {
        try {
          f()
        } catch (e) {
          return e
        }
        throw new Error('did not throw')
      }
      const pk = thrown(() => ins.run('a', 'y', 1))
      const unique = thrown(() => ins.run('b', 'x', 1))
      const check = thrown(() => ins.run('c', 'z', -1))
      const notNull = thrown(() => db.prepare('INSERT INTO t (id) VALUES (?)').run('d'))
      console.info(`${driver} throws for a primary-key conflict:`, describeError(pk), '; for a unique one:', describeError(unique))
      expect(db.classify(pk)).toBe('unique')
      expect(db.classify(unique)).toBe('unique')
      expect(db.classify(check)).toBe('constraint')
      expect(db.classify(notNull)).toBe('constraint')
      expect(db.classify(thrown(() => db.exec('SELEKT 1')))).toBe('error')
      expect(db.classify(new Error('not sqlite'))).toBeNull()
      expect(db.classify('a string')).toBeNull()
      db.close()
      expect(db.classify(thrown(() => ins.run('e', 'e', 1)))).toBe('closed')
      expect(db.classify(thrown(() => db.prepare('SELECT 1')))).toBe('closed')
      expect(db.classify(thrown(() => db.immediate(() => 1)))).toBe('closed')
    })
  })

  describe('sqliteStore', () => {
    it('runs on the driver it was asked for', async () => {
      const store = sqliteStore({ file: ':memory:', driver })
      expect(store.driver).toBe(driver)
      await store.close()
    })

    it('reports a duplicate user id (a primary-key conflict) as StoreConflictError', async () => {
      const store = sqliteStore({ file: ':memory:', driver })
      await store.migrate()
      await store.createUser({ id: 'u1', username: 'a', passwordHash: 'h', createdAt: 1 })
      await expect(store.createUser({ id: 'u1', username: 'b', passwordHash: 'h', createdAt: 1 })).rejects.toThrow(
        new StoreConflictError('user already exists: u1'),
      )
      await expect(store.createUser({ id: 'u2', username: 'a', passwordHash: 'h', createdAt: 1 })).rejects.toThrow(
        new StoreConflictError('username already taken: a'),
      )
      await expect(store.insertKey({ kid: 'k', alg: 'EdDSA', publicJwk: '{}', sealedPrivateJwk: 's', createdAt: 1, retiredAt: null })).resolves.toBeUndefined()
      await expect(store.insertKey({ kid: 'k', alg: 'EdDSA', publicJwk: '{}', sealedPrivateJwk: 's', createdAt: 1, retiredAt: null })).rejects.toBeInstanceOf(StoreConflictError)
      await store.close()
    })

    it('reports a file it cannot open as unavailable', () => {
      const blocker = join(dir, `blocker-${++n}`)
      writeFileSync(blocker, '')
      expect(() => sqliteStore({ file: join(blocker, 'x.db'), driver })).toThrow()
      writeFileSync(blocker, 'this is not a database, and it is long enough to have a header.'.repeat(20))
      expect(() => sqliteStore({ file: blocker, driver })).toThrow(expect.objectContaining({ name: 'StoreUnavailableError' }))
    })

    it('keeps its data across close and reopen of the same file', async () => {
      const file = tmpFile()
      const a = sqliteStore({ file, driver })
      await a.migrate()
      await a.createUser({ id: 'u1', username: 'ada', passwordHash: 'h', createdAt: 1 })
      const s = await a.createSession({
        id: 's1', userId: 'u1', kind: 'cookie', now: 1, expiresAt: 10_000, refreshExpiresAt: 5_000,
        userAgent: null, ip: null, tokenSalt: 'r0',
      })
      const out = await a.rotateRefresh({ sessionId: 's1', presented: { generation: 0 }, tokenSalt: 'x', now: 2, graceMs: 0, refreshExpiresAt: () => 6_000 })
      expect(out.kind).toBe('rotated')
      await a.rateLimits.hit('k', 60_000, 3)
      await a.close()

      const b = sqliteStore({ file, driver })
      await b.migrate()
      expect(await b.findUserByUsername('ada')).toMatchObject({ id: 'u1' })
      expect(await b.findSession('s1')).toEqual({ ...s, generation: 1, lastUsedAt: 2, rotatedAt: 2, refreshExpiresAt: 6_000 })
      expect((await b.rateLimits.peek('k', 60_000, 4)).count).toBe(1)
      expect((await b.rotateRefresh({ sessionId: 's1', presented: { generation: 1 }, tokenSalt: 'x', now: 3, graceMs: 0, refreshExpiresAt: () => 7_000 })).kind).toBe('rotated')
      await b.close()
    })

    it('migrates twice as a no-op, and records each version once', async () => {
      const file = tmpFile()
      const a = sqliteStore({ file, driver })
      await a.migrate()
      await a.migrate()
      await a.close()
      const db = openSqlite(file, { driver, readonly: true })
      const rows = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all<{ version: number }>()
      expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version))
      expect(scalar(db, 'PRAGMA journal_mode')).toBe('wal')
      db.close()
    })

    it('migrates safely when two connections start at once', async () => {
      const file = tmpFile()
      const a = sqliteStore({ file, driver })
      const b = sqliteStore({ file, driver })
      await Promise.all([a.migrate(), b.migrate()])
      await a.createUser({ id: 'u1', username: 'x', passwordHash: 'h', createdAt: 1 })
      expect(await b.findUserById('u1')).not.toBeNull()
      await Promise.all([a.close(), b.close()])
    })

    it('prunes long-dead sessions with their tokens, and ended rate-limit windows', async () => {
      const day = 24 * 60 * 60 * 1000
      const store = sqliteStore({ file: ':memory:', driver })
      await store.migrate()
      const base = { userId: 'u', kind: 'cookie' as const, now: 0, userAgent: null, ip: null }
      await store.createSession({ ...base, id: 'dead', expiresAt: 1000, refreshExpiresAt: 500, tokenSalt: 'd0' })
      await store.createSession({ ...base, id: 'alive', expiresAt: 3 * day, refreshExpiresAt: 500, tokenSalt: 'a0' })
      await store.rateLimits.hit('old', 60_000, 0)
      await store.rateLimits.hit('new', 60_000, 2 * day)
      expect(await store.prune(2 * day)).toBe(1)
      expect(await store.findSession('dead')).toBeNull()
      expect(await store.findSession('alive')).not.toBeNull()
      expect(await store.rotateRefresh({ sessionId: 'dead', presented: { generation: 0 }, tokenSalt: 'x', now: 2 * day, graceMs: 0, refreshExpiresAt: () => 0 }))
        .toEqual({ kind: 'invalid', session: null })
      expect((await store.rateLimits.peek('new', 60_000, 2 * day)).count).toBe(1)
      await store.close()
    })

    it('reports a closed store as unavailable', async () => {
      const store = sqliteStore({ file: ':memory:', driver })
      await store.migrate()
      await store.findUserById('x') // prepares (and caches) a statement before the close
      await store.close()
      await store.close()
      await expect(store.findUserById('x')).rejects.toMatchObject({ name: 'StoreUnavailableError', message: 'sqlite: the store is closed' })
      await expect(store.findUserByUsername('x')).rejects.toMatchObject({ name: 'StoreUnavailableError', message: 'sqlite: the store is closed' })
      await expect(store.rotateRefresh({ sessionId: 's', presented: { generation: 0 }, tokenSalt: 'x', now: 1, graceMs: 0, refreshExpiresAt: () => 2 }))
        .rejects.toMatchObject({ name: 'StoreUnavailableError', message: 'sqlite: the store is closed' })
    })

    it('serialises migrations and rotations across separate processes', async () => {
      const file = tmpFile()
      const go = join(dir, `go-${process.pid}-${++n}`)
      const worker = fileURLToPath(new URL('./race.worker.ts', import.meta.url))
      const procs = Array.from({ length: 4 }, (_, i) => {
        const child = spawn(process.execPath, ['--conditions=@bastion/source', '--import', 'tsx', worker, file, go, String(i)], {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, BASTION_SQLITE_DRIVER: driver },
        })
        let out = ''
        child.stdout.on('data', (d: Buffer) => (out += d.toString()))
        const ready = new Promise<void>((resolve, reject) => {
          const check = () => (out.includes('ready') ? resolve() : undefined)
          child.stdout.on('data', check)
          child.on('exit', () => reject(new Error(`worker ${i} exited early: ${out}`)))
        })
        const done = new Promise<string>((resolve) => child.on('exit', () => resolve(out)))
        return { ready, done }
      })
      // The first worker to migrate creates the schema; seed once all are ready.
      await Promise.all(procs.map((p) => p.ready))
      const seed = sqliteStore({ file, driver })
      await seed.migrate()
      await seed.createSession({
        id: 's1', userId: 'u1', kind: 'cookie', now: 0, expiresAt: 1e9, refreshExpiresAt: 1e8,
        userAgent: null, ip: null, tokenSalt: 'r0',
      })
      writeFileSync(go, '')
      const outs = await Promise.all(procs.map((p) => p.done))
      for (const o of outs) expect(o).toContain(`driver ${driver}\n`)
      const kinds = outs.map((o) => o.trim().split('\n').at(-1))
      expect(kinds.filter((k) => k === 'rotated')).toHaveLength(1)
      expect(kinds.filter((k) => k === 'grace')).toHaveLength(3)
      expect((await seed.findSession('s1'))?.generation).toBe(1)
      await seed.close()
    })
  })
})

/** What a driver threw, in a line: its class, code and message (and node:sqlite's errcode/errstr). */
function describeError(e: unknown): string {
  const { code, errcode, errstr } = e as { code?: unknown; errcode?: unknown; errstr?: unknown }
  return JSON.stringify({ class: (e as Error).constructor.name, code, errcode, errstr, message: (e as Error).message })
}
