import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSqlite, type SqliteDatabase } from './driver.ts'
import { groupCommit } from './group-commit.ts'
import { sqliteStore, type SqliteStore } from './index.ts'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bastion-group-commit-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('groupCommit', () => {
  let db: SqliteDatabase
  beforeEach(() => {
    db = openSqlite(join(dir, 'g.db'))
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)')
  })
  afterEach(() => db.close())

  it('runs what is asked for in one turn in one transaction; a body that throws is rolled back alone', async () => {
    const writes = groupCommit(db)
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)')
    let transactions = 0
    const seen = (k: string) => () => {
      // Inside one transaction for the whole batch: the outer BEGIN IMMEDIATE is open.
      if (db.inTransaction) transactions++
      insert.run(k, 1)
      return k
    }
    const results = await Promise.allSettled([
      writes.run(seen('a')),
      writes.run(() => {
        insert.run('b', 1)
        insert.run('a', 2) // duplicate key: this body fails, its 'b' is undone, the others stand
      }),
      writes.run(seen('c')),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(transactions).toBe(2)
    expect(db.prepare('SELECT k, v FROM t ORDER BY k').all()).toEqual([
      { k: 'a', v: 1 },
      { k: 'c', v: 1 },
    ])
  })

  it('acknowledges nothing when the group transaction fails: a batch on a database another connection holds locked is refused whole', async () => {
    const file = join(dir, 'locked.db')
    const a = openSqlite(file, { busyTimeoutMs: 50 })
    a.exec('CREATE TABLE t (k TEXT PRIMARY KEY)')
    const b = openSqlite(file, { busyTimeoutMs: 50 })
    b.exec('BEGIN IMMEDIATE') // holds the write lock
    try {
      const writes = groupCommit(a)
      const insert = a.prepare('INSERT INTO t (k) VALUES (?)')
      const results = await Promise.allSettled([writes.run(() => insert.run('x')), writes.run(() => insert.run('y'))])
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    } finally {
      b.exec('ROLLBACK')
    }
    expect(a.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 })
    a.close()
    b.close()
  })
})

describe('refresh rotations on the SQLite store share a commit', () => {
  let store: SqliteStore
  let file: string
  const T = 1_700_000_000_000

  beforeEach(async () => {
    file = join(dir, 'bastion.db')
    store = sqliteStore({ file })
    await store.migrate()
    await store.createUser({ id: 'u1', username: 'alice', passwordHash: 'x', createdAt: T })
  })
  afterEach(async () => store.close())

  async function sessions(n: number): Promise<string[]> {
    const ids: string[] = []
    for (let i = 0; i < n; i++) {
      const id = `s${i}`
      await store.createSession({ id, userId: 'u1', kind: 'cookie', now: T, expiresAt: T + 1e9, refreshExpiresAt: T + 1e8, userAgent: null, ip: null, tokenSalt: `salt${i}` })
      ids.push(id)
    }
    return ids
  }
  const rotate = (i: number, gen: number) =>
    store.rotateRefresh({ sessionId: `s${i}`, presented: { generation: gen }, now: T + 1000, graceMs: 10_000, refreshExpiresAt: () => T + 2e8, tokenSalt: `salt${i}` })

  /** Frames in the WAL since the last checkpoint: every commit appends the pages it changed (a second connection reads the count). */
  function walFrames(): number {
    const other = openSqlite(file)
    try {
      const row = other.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number }
      return row.log
    } finally {
      other.close()
    }
  }
  function truncateWal(): void {
    const other = openSqlite(file)
    other.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()
    other.close()
  }

  it('40 concurrent rotations: each rotated exactly once, and the WAL grows a fraction of what 40 one-by-one commits write', async () => {
    await sessions(80)
    truncateWal()
    for (let i = 0; i < 40; i++) expect((await rotate(i, 0)).kind).toBe('rotated')
    const oneByOne = walFrames()
    truncateWal()
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, k) => rotate(40 + k, 0)))
    const grouped = walFrames()
    expect(outcomes.map((o) => o.kind)).toEqual(Array(40).fill('rotated'))
    expect(outcomes.map((o) => o.session?.generation)).toEqual(Array(40).fill(1))
    // Sequential commits rewrite the same pages 40 times; grouped ones once.
    expect(grouped * 5).toBeLessThan(oneByOne)
  })

  it('the same token twice in one batch: one rotation and one grace answer, as one after the other; a reused older token still revokes', async () => {
    await sessions(1)
    const [a, b] = await Promise.all([rotate(0, 0), rotate(0, 0)])
    expect([a.kind, b.kind]).toEqual(['rotated', 'grace'])
    expect((await rotate(0, 1)).kind).toBe('rotated')
    // Generation 0 is now two behind: reuse, the session is revoked.
    const reuse = await rotate(0, 0)
    expect(reuse.kind).toBe('reused')
    expect((await store.findSession('s0'))?.revokedAt).not.toBeNull()
  })
})
