import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { describeStoreConformance } from '../conformance.ts'
import { sqliteStore } from './index.ts'
import { migrations } from './migrations.ts'

const dir = mkdtempSync(join(tmpdir(), 'bastion-sqlite-'))
let n = 0
const tmpFile = () => join(dir, `nested/${process.pid}-${++n}.db`)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describeStoreConformance('sqlite (file)', async () => sqliteStore({ file: tmpFile() }))
describeStoreConformance('sqlite (:memory:)', async () => sqliteStore({ file: ':memory:' }))

describe('sqliteStore', () => {
  it('keeps its data across close and reopen of the same file', async () => {
    const file = tmpFile()
    const a = sqliteStore({ file })
    await a.migrate()
    await a.createUser({ id: 'u1', username: 'ada', passwordHash: 'h', createdAt: 1 })
    const s = await a.createSession({
      id: 's1', userId: 'u1', kind: 'cookie', now: 1, expiresAt: 10_000, refreshExpiresAt: 5_000,
      userAgent: null, ip: null, refreshHash: 'r0',
    })
    const out = await a.rotateRefresh({ presentedHash: 'r0', successorHash: 'r1', now: 2, graceMs: 0, refreshExpiresAt: () => 6_000 })
    expect(out.kind).toBe('rotated')
    await a.rateLimits.hit('k', 60_000, 3)
    await a.close()

    const b = sqliteStore({ file })
    await b.migrate()
    expect(await b.findUserByUsername('ada')).toMatchObject({ id: 'u1' })
    expect(await b.findSession('s1')).toEqual({ ...s, generation: 1, lastUsedAt: 2, refreshExpiresAt: 6_000 })
    expect((await b.rateLimits.peek('k', 60_000, 4)).count).toBe(1)
    expect((await b.rotateRefresh({ presentedHash: 'r1', successorHash: 'r2', now: 3, graceMs: 0, refreshExpiresAt: () => 7_000 })).kind).toBe('rotated')
    await b.close()
  })

  it('migrates twice as a no-op, and records each version once', async () => {
    const file = tmpFile()
    const a = sqliteStore({ file })
    await a.migrate()
    await a.migrate()
    await a.close()
    const db = new Database(file, { readonly: true })
    const rows = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]
    expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version))
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    db.close()
  })

  it('migrates safely when two connections start at once', async () => {
    const file = tmpFile()
    const a = sqliteStore({ file })
    const b = sqliteStore({ file })
    await Promise.all([a.migrate(), b.migrate()])
    await a.createUser({ id: 'u1', username: 'x', passwordHash: 'h', createdAt: 1 })
    expect(await b.findUserById('u1')).not.toBeNull()
    await Promise.all([a.close(), b.close()])
  })

  it('prunes long-dead sessions with their tokens, and ended rate-limit windows', async () => {
    const day = 24 * 60 * 60 * 1000
    const store = sqliteStore({ file: ':memory:' })
    await store.migrate()
    const base = { userId: 'u', kind: 'cookie' as const, now: 0, userAgent: null, ip: null }
    await store.createSession({ ...base, id: 'dead', expiresAt: 1000, refreshExpiresAt: 500, refreshHash: 'd0' })
    await store.createSession({ ...base, id: 'alive', expiresAt: 3 * day, refreshExpiresAt: 500, refreshHash: 'a0' })
    await store.rateLimits.hit('old', 60_000, 0)
    await store.rateLimits.hit('new', 60_000, 2 * day)
    expect(await store.prune(2 * day)).toBe(1)
    expect(await store.findSession('dead')).toBeNull()
    expect(await store.findSession('alive')).not.toBeNull()
    expect(await store.rotateRefresh({ presentedHash: 'd0', successorHash: 'x', now: 2 * day, graceMs: 0, refreshExpiresAt: () => 0 }))
      .toEqual({ kind: 'invalid', session: null })
    expect((await store.rateLimits.peek('new', 60_000, 2 * day)).count).toBe(1)
    await store.close()
  })

  it('reports a closed store as unavailable', async () => {
    const store = sqliteStore({ file: ':memory:' })
    await store.migrate()
    await store.close()
    await expect(store.findUserById('x')).rejects.toMatchObject({ name: 'StoreUnavailableError' })
  })

  it('serialises migrations and rotations across separate processes', async () => {
    const file = tmpFile()
    const go = join(dir, `go-${process.pid}-${++n}`)
    const worker = fileURLToPath(new URL('./race.worker.ts', import.meta.url))
    const procs = Array.from({ length: 4 }, (_, i) => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, file, go, String(i)], { stdio: ['ignore', 'pipe', 'inherit'] })
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
    const seed = sqliteStore({ file })
    await seed.migrate()
    await seed.createSession({
      id: 's1', userId: 'u1', kind: 'cookie', now: 0, expiresAt: 1e9, refreshExpiresAt: 1e8,
      userAgent: null, ip: null, refreshHash: 'r0',
    })
    writeFileSync(go, '')
    const kinds = (await Promise.all(procs.map((p) => p.done))).map((o) => o.trim().split('\n').at(-1))
    expect(kinds.filter((k) => k === 'rotated')).toHaveLength(1)
    expect(kinds.filter((k) => k === 'grace')).toHaveLength(3)
    expect((await seed.findSession('s1'))?.generation).toBe(1)
    await seed.close()
  })
})
