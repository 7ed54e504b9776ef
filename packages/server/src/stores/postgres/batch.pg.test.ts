import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { StoreUnavailableError } from '../../errors.ts'
import type { RotateRefreshInput, SessionRecord, UserRecord } from '../../store.ts'
import { postgresStore, type PostgresStore } from './index.ts'
import { batchesSentForTests } from './turn-batch.ts'

// Calls made in one turn of the event loop share one statement (turn-batch.ts); each test has a schema of its own.
const url = process.env.BASTION_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const run = `bastion_test_${randomBytes(6).toString('hex')}`
const schemas = new Set<string>()
const admin = new pg.Pool({ connectionString: url, max: 2 })
const stores: PostgresStore[] = []

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()))
  for (const name of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
  await admin.end()
})

const MIN = 60_000
const HOUR = 60 * MIN
const T0 = 1_700_000_000_000

async function freshStore(suffix: string, migrate = true): Promise<{ store: PostgresStore; schema: string }> {
  const schema = `${run}_${suffix}`
  schemas.add(schema)
  const store = postgresStore({ connectionString: url, schema })
  stores.push(store)
  if (migrate) await store.migrate()
  return { store, schema }
}

/** A user with `count` sessions of its own, each read back as the refresh route reads it. */
async function usersWithSessions(store: PostgresStore, count: number, over: { now?: number; refreshExpiresAt?: number } = {}) {
  const made: Array<{ user: UserRecord; seen: SessionRecord }> = []
  for (let i = 0; i < count; i++) {
    const user = { id: `u${made.length}_${randomBytes(4).toString('hex')}`, username: `user_${randomBytes(6).toString('hex')}`, passwordHash: 'h', createdAt: T0 }
    await store.createUser(user)
    const id = `s_${randomBytes(8).toString('hex')}`
    await store.createSession({
      id, userId: user.id, kind: 'cookie', now: over.now ?? T0, expiresAt: T0 + 24 * HOUR,
      refreshExpiresAt: over.refreshExpiresAt ?? T0 + HOUR, userAgent: null, ip: null, tokenSalt: `salt_${id}`,
    })
    made.push({ user, seen: (await store.findSession(id))! })
  }
  return made
}

/** The route's fast path: the presented generation is the one just read. */
const fromRead = (seen: SessionRecord, now: number, over: Partial<RotateRefreshInput> = {}): RotateRefreshInput => ({
  sessionId: seen.id, presented: { generation: seen.generation }, tokenSalt: 'unused', now, graceMs: 10_000,
  refreshExpiresAt: () => now + 2 * HOUR, seen, ...over,
})

describe('postgresStore batches the calls of one turn', () => {
  it('findSession: concurrent reads give the one-by-one answers (unknown, duplicate and unstorable ids too) in one statement', async () => {
    const { store } = await freshStore('reads')
    const made = await usersWithSessions(store, 6)
    await store.revokeSession(made[1]!.seen.id, 'logout', T0 + 1)
    const ids = [...made.map((m) => m.seen.id), 'unknown-1', made[2]!.seen.id, 'nul\u0000id', 'unknown-2', made[2]!.seen.id, made[0]!.seen.id]
    const oneByOne: Array<SessionRecord | null> = []
    for (const id of ids) oneByOne.push(await store.findSession(id))
    expect(oneByOne.filter((s) => s !== null)).toHaveLength(9)
    expect(oneByOne[1]).toMatchObject({ revokedReason: 'logout' })

    const before = batchesSentForTests()
    const together = await Promise.all(ids.map((id) => store.findSession(id)))
    expect(batchesSentForTests() - before).toBe(1)
    expect(together).toEqual(oneByOne)
    // Each caller has a record of its own.
    expect(together[8]).not.toBe(together[10])
  })

  it('rotateRefresh: 40 concurrent rotations of 40 sessions from their reads, each with its own owner, in one statement', async () => {
    const { store } = await freshStore('rotate40')
    const made = await usersWithSessions(store, 40)
    const now = T0 + MIN
    let deadlines = 0
    const refreshExpiresAt = () => {
      deadlines++ // once per rotation from the read; a rotation that fell back to reading again would ask again
      return now + 2 * HOUR
    }
    const before = batchesSentForTests()
    const outs = await Promise.all(made.map(({ seen }) => store.rotateRefresh(fromRead(seen, now, { refreshExpiresAt }))))
    expect(batchesSentForTests() - before).toBe(1)
    expect(deadlines).toBe(40)
    outs.forEach((out, i) => {
      const { user, seen } = made[i]!
      expect(out).toEqual({
        kind: 'rotated',
        owner: user,
        session: { ...seen, generation: 1, lastUsedAt: now, rotatedAt: now, refreshExpiresAt: now + 2 * HOUR },
      })
    })
    const after = await Promise.all(made.map(({ seen }) => store.findSession(seen.id)))
    expect(after.map((s) => s?.generation)).toEqual(made.map(() => 1))
  })

  it('rotateRefresh: one session twice in one turn from the same read: one rotated, the other grace', async () => {
    const { store } = await freshStore('twice')
    const made = await usersWithSessions(store, 4)
    const [dup] = made
    const now = T0 + MIN
    const outs = await Promise.all([
      store.rotateRefresh(fromRead(dup!.seen, now)),
      ...made.slice(1).map(({ seen }) => store.rotateRefresh(fromRead(seen, now))),
      store.rotateRefresh(fromRead(dup!.seen, now)),
    ])
    expect([outs[0]!.kind, outs[4]!.kind].sort()).toEqual(['grace', 'rotated'])
    expect(outs.slice(1, 4).map((o) => o.kind)).toEqual(['rotated', 'rotated', 'rotated'])
    expect(outs[4]).toMatchObject({ session: { generation: 1 }, owner: dup!.user })
    expect((await store.findSession(dup!.seen.id))?.generation).toBe(1)
  })

  it('rotateRefresh: sessions revoked, expired, under a revoke-all or moved on since their read are not rotated by the batch', async () => {
    const { store } = await freshStore('stale')
    const live = await usersWithSessions(store, 3)
    const [revoked, movedOn] = await usersWithSessions(store, 2)
    const [idle] = await usersWithSessions(store, 1, { refreshExpiresAt: T0 + MIN })
    const [old] = await usersWithSessions(store, 1, { now: T0 - 2 * HOUR })
    const now = T0 + MIN
    await store.revokeSession(revoked!.seen.id, 'logout', T0 + 1)
    await store.revokeAllSessions(T0 - HOUR)
    expect((await store.rotateRefresh(fromRead(movedOn!.seen, T0 + MIN - 1_000))).kind).toBe('rotated')

    const all = [revoked!, ...live, idle!, movedOn!, old!]
    const outs = await Promise.all(all.map(({ seen }) => store.rotateRefresh(fromRead(seen, now))))
    expect(outs.map((o) => o.kind)).toEqual(['invalid', 'rotated', 'rotated', 'rotated', 'invalid', 'grace', 'invalid'])
    const after = await Promise.all(all.map(({ seen }) => store.findSession(seen.id)))
    expect(after.map((s) => [s?.generation, s?.revokedReason])).toEqual([
      [0, 'logout'], [1, null], [1, null], [1, null], [0, null], [1, null], [0, 'revoked_all'],
    ])
    expect(after[4]?.lastUsedAt).toBe(T0)
  })

  it('rotateRefresh: a session another transaction holds does not hold up the batch; it rotates once released', async () => {
    const { store, schema } = await freshStore('locked')
    const made = await usersWithSessions(store, 5)
    const now = T0 + MIN
    const holder = await admin.connect()
    try {
      await holder.query('BEGIN')
      await holder.query(`SELECT 1 FROM "${schema}".sessions WHERE id = $1 FOR UPDATE`, [made[0]!.seen.id])
      const outs = made.map(({ seen }) => store.rotateRefresh(fromRead(seen, now)))
      const others = await Promise.race([
        Promise.all(outs.slice(1)),
        new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 3_000)),
      ])
      expect(others === 'waited' ? others : others.map((o) => o.kind)).toEqual(['rotated', 'rotated', 'rotated', 'rotated'])
      await holder.query('COMMIT')
      expect(await outs[0]).toMatchObject({ kind: 'rotated', session: { generation: 1 }, owner: made[0]!.user })
    } finally {
      await holder.query('ROLLBACK').catch(() => {})
      holder.release()
    }
  })

  it('a batch whose statement fails rejects every caller with StoreUnavailableError, and none is left waiting', async () => {
    // No migrate(): the tables are missing, so both batched statements fail.
    const { store: bare } = await freshStore('bare', false)
    const { store: full } = await freshStore('full')
    const made = await usersWithSessions(full, 3)
    const reads = await Promise.allSettled(['a', 'b', 'c'].map((id) => bare.findSession(id)))
    const rotations = await Promise.allSettled(made.map(({ seen }) => bare.rotateRefresh(fromRead(seen, T0 + MIN))))
    for (const out of [...reads, ...rotations]) {
      expect(out.status).toBe('rejected')
      expect(out.status === 'rejected' && out.reason).toBeInstanceOf(StoreUnavailableError)
    }

    // Closed in the turn the calls were made, before their batch is sent.
    const { store: closing } = await freshStore('closing')
    const pending = [
      ...made.map(({ seen }) => closing.findSession(seen.id)),
      ...made.map(({ seen }) => closing.rotateRefresh(fromRead(seen, T0 + MIN))),
    ]
    await closing.close()
    for (const out of await Promise.allSettled(pending)) {
      expect(out.status === 'rejected' && out.reason).toBeInstanceOf(StoreUnavailableError)
    }
  })
})
