import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StoreUnavailableError } from '../../errors.ts'
import { describeStoreConformance } from '../conformance.ts'
import { postgresStore } from './index.ts'
import { migrations } from './migrations.ts'

const url = process.env.BASTION_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
// Each run works in schemas of its own, dropped at the end.
const run = `bastion_test_${randomBytes(6).toString('hex')}`
const schemas = new Set<string>()
const schema = (suffix: string) => {
  const name = `${run}_${suffix}`
  schemas.add(name)
  return name
}

const admin = new pg.Pool({ connectionString: url, max: 2 })

afterAll(async () => {
  for (const name of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
  await admin.end()
})

const shared = schema('conformance')
describeStoreConformance('postgres', async () => postgresStore({ connectionString: url, schema: shared }))

describe('postgresStore', () => {
  it('applies migrations once when many instances start together, and again is a no-op', async () => {
    const name = schema('migrate')
    const stores = Array.from({ length: 6 }, () => postgresStore({ connectionString: url, schema: name }))
    await Promise.all(stores.map((s) => s.migrate()))
    await stores[0]!.migrate()
    const { rows } = await admin.query(`SELECT version FROM "${name}".schema_migrations ORDER BY version`)
    expect(rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version))
    await Promise.all(stores.map((s) => s.close()))
  })

  it('20 concurrent rotations across 4 instances: one rotated, 19 grace', async () => {
    const name = schema('race')
    const stores = Array.from({ length: 4 }, () => postgresStore({ connectionString: url, schema: name }))
    await Promise.all(stores.map((s) => s.migrate()))
    const [a] = stores
    await a!.createSession({
      id: 's1', userId: 'u1', kind: 'cookie', now: 0, expiresAt: 1e9, refreshExpiresAt: 1e8,
      userAgent: null, ip: null, tokenSalt: 'salt',
    })
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stores[i % 4]!.rotateRefresh({
          sessionId: 's1', presented: { generation: 0 }, tokenSalt: `x${i}`, now: 1000, graceMs: 10_000, refreshExpiresAt: () => 2e8,
        }),
      ),
    )
    expect(outs.filter((o) => o.kind === 'rotated')).toHaveLength(1)
    expect(outs.filter((o) => o.kind === 'grace')).toHaveLength(19)
    expect(await a!.findSession('s1')).toMatchObject({ generation: 1, refreshExpiresAt: 2e8, revokedAt: null, tokenSalt: 'salt' })
    const next = await stores[3]!.rotateRefresh({
      sessionId: 's1', presented: { generation: 1 }, tokenSalt: 'y', now: 2000, graceMs: 10_000, refreshExpiresAt: () => 3e8,
    })
    expect(next.kind).toBe('rotated')
    await Promise.all(stores.map((s) => s.close()))
  })

  it('keeps data across instances (restart), with times as numbers', async () => {
    const name = schema('restart')
    const a = postgresStore({ connectionString: url, schema: name })
    await a.migrate()
    const big = 1_700_000_000_123
    await a.createUser({ id: 'u1', username: 'ada', passwordHash: 'h', createdAt: big })
    await a.close()
    const b = postgresStore({ connectionString: url, schema: name })
    await b.migrate()
    expect(await b.findUserByUsername('ada')).toEqual({ id: 'u1', username: 'ada', passwordHash: 'h', createdAt: big })
    await b.close()
  })

  it('works on a pool it is given, and leaves it open', async () => {
    const name = schema('pool')
    const pool = new pg.Pool({ connectionString: url, max: 3 })
    const store = postgresStore({ connectionString: url, pool, schema: name })
    await store.migrate()
    await store.insertKey({ kid: 'k1', alg: 'EdDSA', publicJwk: '{}', sealedPrivateJwk: 's', createdAt: 5, retiredAt: null })
    expect(await store.listKeys()).toEqual([
      { kid: 'k1', alg: 'EdDSA', publicJwk: '{}', sealedPrivateJwk: 's', createdAt: 5, retiredAt: null },
    ])
    await store.close()
    expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1)
    await pool.end()
  })

  it('prunes long-dead sessions with their tokens, and ended rate-limit windows', async () => {
    const day = 24 * 60 * 60 * 1000
    const name = schema('prune')
    const store = postgresStore({ connectionString: url, schema: name })
    await store.migrate()
    const base = { userId: 'u', kind: 'cookie' as const, now: 0, userAgent: null, ip: null }
    await store.createSession({ ...base, id: 'dead', expiresAt: 1000, refreshExpiresAt: 500, tokenSalt: 'd0' })
    await store.createSession({ ...base, id: 'alive', expiresAt: 3 * day, refreshExpiresAt: 500, tokenSalt: 'a0' })
    await store.rateLimits.hit('old', 60_000, 0)
    await store.rateLimits.hit('new', 60_000, 2 * day)
    expect(await store.prune(2 * day)).toBe(1)
    expect(await store.findSession('dead')).toBeNull()
    expect(await store.findSession('alive')).not.toBeNull()
    expect((await store.rateLimits.peek('new', 60_000, 2 * day)).count).toBe(1)
    await store.close()
  })

  it('fails closed with StoreUnavailableError when the database is unreachable', async () => {
    const store = postgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test', schema: 'x' })
    const started = Date.now()
    await expect(store.findUserById('u1')).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(store.rotateRefresh({
      sessionId: 's', presented: { generation: 0 }, tokenSalt: 't', now: 0, graceMs: 0, refreshExpiresAt: () => 0,
    })).rejects.toBeInstanceOf(StoreUnavailableError)
    await expect(store.rateLimits.hit('k', 1000, 0)).rejects.toBeInstanceOf(StoreUnavailableError)
    expect(Date.now() - started).toBeLessThan(5_000)
    await store.close()
  })
})

beforeAll(async () => {
  await admin.query('SELECT 1')
})
