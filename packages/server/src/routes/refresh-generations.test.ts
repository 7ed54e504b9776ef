import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LogEvent } from '../config.ts'
import { sha256 } from '../crypto/encoding.ts'
import { deriveKey } from '../crypto/secret.ts'
import { mintCsrfToken } from '../csrf/token.ts'
import { openSqlite } from '../stores/sqlite/index.ts'
import { Clock, TEST_STORE, cookieValue, expectError, setCookieFor, startServer, type Browser, type TestServer } from '../testing/harness.ts'

// Refresh tokens carry their generation under a per-session MAC (sessions.ts): nothing per token is stored,
// yet any genuine older token is still recognised as a replay, and a forged one changes nothing.

let srv: TestServer
const events: LogEvent[] = []
beforeAll(async () => {
  srv = await startServer({ log: (e) => events.push(e) })
})
afterAll(async () => {
  await srv?.close()
})

const tokenOf = (b: Browser) => b.cookie('__Secure-refresh')!
const sessionIdOf = (token: string) => token.split('.')[0]!

/** A second browser holding `token` and the victim's CSRF cookie (what a thief copies). */
function holding(from: Browser, token: string): Browser {
  const b = srv.browser()
  b.setCookie('__Secure-refresh', token, '/auth')
  b.setCookie('__Host-csrf', from.cookie('__Host-csrf')!)
  return b
}

describe('refresh tokens by generation', () => {
  it('a genuine token from 500 generations ago is refused and revokes the session', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const first = tokenOf(b)
    for (let i = 0; i < 500; i++) expect((await b.refresh()).status).toBe(200)
    expect(tokenOf(b)).toMatch(/^[A-Za-z0-9_-]{24}\.500\.[A-Za-z0-9_-]{43}$/)
    expectError(await holding(b, first).refresh(), 401, 'unauthenticated')
    expect(events.some((e) => e.event === 'refresh_token_reuse' && e.session === sessionIdOf(first))).toBe(true)
    // The victim's current token is dead too: the family is revoked.
    expectError(await b.refresh(), 401, 'unauthenticated')
    expectError(await b.me(), 401, 'unauthenticated')
  })

  it('a forged token naming a real session (its public id, any generation, a wrong MAC) is refused and revokes nothing', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    await b.refresh()
    const sid = sessionIdOf(tokenOf(b))
    for (const forged of [0, 1, 2, 7].map((g) => `${sid}.${g}.${randomBytes(32).toString('base64url')}`).concat(`${sid}.${randomBytes(32).toString('base64url')}`)) {
      const res = await holding(b, forged).refresh()
      expectError(res, 401, 'unauthenticated')
    }
    expect(events.some((e) => e.event === 'refresh_token_invalid' && e.session === sid)).toBe(true)
    expect(events.some((e) => e.event === 'refresh_token_reuse' && e.session === sid)).toBe(false)
    expect((await b.refresh()).status).toBe(200)
    expect((await b.me()).status).toBe(200)
  })

  it('racing tabs inside the grace get the same successor and stay signed in; the store keeps no token rows', async () => {
    const b = srv.browser()
    await b.signIn(await srv.user())
    const t0 = tokenOf(b)
    const tabs = Array.from({ length: 4 }, () => holding(b, t0))
    const answers = await Promise.all(tabs.map((t) => t.refresh()))
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200])
    expect(new Set(answers.map((r) => cookieValue(setCookieFor(r, '__Secure-refresh')))).size).toBe(1)
    for (const t of tabs) expect((await t.me()).status).toBe(200)
    expect((await tabs[0]!.refresh()).status).toBe(200)
    expect(await legacyRowCount(srv)).toBe(0)
  })
})

describe('sessions made before the generation format', () => {
  it('a legacy refresh token moves its session on its next refresh, signing no one out; its replay after the grace still revokes', async () => {
    const name = await srv.user()
    const user = (await srv.bastion.findUser(name))!
    const { sessionId, token } = await seedLegacySession(srv, user.id)
    const csrf = mintCsrfToken(deriveKey(srv.secret, 'csrf'), { kind: 'session', sessionId })
    const browser = () => {
      const b = srv.browser()
      b.setCookie('__Secure-refresh', token, '/auth')
      b.setCookie('__Host-csrf', csrf)
      return b
    }
    const tab1 = browser()
    const moved = await tab1.refresh()
    expect(moved.status, moved.text).toBe(200)
    const successor = tokenOf(tab1)
    expect(successor).toMatch(new RegExp(`^${sessionId}\\.1\\.[A-Za-z0-9_-]{43}$`))
    expect((await tab1.me()).status).toBe(200)
    // A second tab racing with the same legacy token, within the grace: the same successor.
    const tab2 = browser()
    srv.clock.advance(3)
    expect((await tab2.refresh()).status).toBe(200)
    expect(tokenOf(tab2)).toBe(successor)
    // The moved session refreshes on in the new format.
    expect((await tab1.refresh()).status).toBe(200)
    expect(tokenOf(tab1)).toMatch(/\.2\./)
    // The legacy token replayed after the grace: theft assumed, the session ends.
    srv.clock.advance(11)
    expectError(await browser().refresh(), 401, 'unauthenticated')
    expectError(await tab1.refresh(), 401, 'unauthenticated')
  })
})

describe('revoke all', () => {
  it('every session and access token is refused on three instances within the poll bound, as one write; signing in again works', async () => {
    const clock = new Clock()
    const a = await startServer({ clock })
    const b = await startServer({ clock, file: a.file })
    const c = await startServer({ clock, file: a.file })
    try {
      const alice = a.browser()
      await alice.signIn(await a.user())
      const bob = a.browser()
      await bob.signIn(await a.user())
      const onB = b.browser()
      onB.setCookie('__Host-access', alice.cookie('__Host-access')!)
      expect((await onB.me()).status).toBe(200)

      const notBefore = await a.bastion.revokeAllSessions()
      expect(notBefore).toBeGreaterThanOrEqual(clock.now())
      expectError(await alice.me(), 401, 'unauthenticated')
      expectError(await bob.refresh(), 401, 'unauthenticated')
      // The other instances read the bound at their next store poll (every 5 s), without a bus.
      const started = Date.now()
      for (const server of [b, c]) {
        const probe = server.browser()
        probe.setCookie('__Host-access', bob.cookie('__Host-access') ?? alice.cookie('__Host-access')!)
        while ((await probe.me()).status === 200) {
          expect(Date.now() - started).toBeLessThan(6_000)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      // Afterwards people sign in again normally, on any instance.
      clock.advance(1)
      const again = c.browser()
      await again.signIn(await c.user())
      expect((await again.me()).status).toBe(200)
      const viaA = a.browser()
      viaA.setCookie('__Host-access', again.cookie('__Host-access')!)
      expect((await viaA.me()).status).toBe(200)
    } finally {
      await c.stop()
      await b.stop()
      await a.close()
    }
  })
})

// ---- raw store access, for what the API can no longer make --------------------

async function pgQuery(sql: string): Promise<unknown[]> {
  const { default: pg } = await import('pg')
  const { TEST_DATABASE_URL } = await import('../testing/services.ts')
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
  await client.connect()
  try {
    return (await client.query(sql)).rows
  } finally {
    await client.end()
  }
}

async function legacyRowCount(server: TestServer): Promise<number> {
  if (TEST_STORE === 'postgres') {
    const [row] = (await pgQuery(`SELECT count(*)::int AS n FROM "${server.file}".refresh_tokens`)) as { n: number }[]
    return row!.n
  }
  const db = openSqlite(server.file, { readonly: true })
  try {
    return Number(db.prepare('SELECT count(*) AS n FROM refresh_tokens').get<{ n: number }>()!.n)
  } finally {
    db.close()
  }
}

/** A session as the store held it before the generation format: a random token, its hash kept, no salt. */
async function seedLegacySession(server: TestServer, userId: string): Promise<{ sessionId: string; token: string }> {
  const sessionId = randomBytes(18).toString('base64url')
  const token = `${sessionId}.${randomBytes(32).toString('base64url')}`
  const now = server.clock.now()
  const values = `'${sessionId}', '${userId}', 'cookie', ${now}, ${now}, ${now + 30 * 86_400_000}, ${now + 14 * 86_400_000}, NULL, NULL, NULL, NULL, 0`
  const columns = 'id, user_id, kind, created_at, last_used_at, expires_at, refresh_expires_at, user_agent, ip, revoked_at, revoked_reason, generation'
  const tokenRow = `'${sha256(token)}', '${sessionId}', 0, ${now}, NULL`
  if (TEST_STORE === 'postgres') {
    await pgQuery(`INSERT INTO "${server.file}".sessions (${columns}) VALUES (${values});
      INSERT INTO "${server.file}".refresh_tokens (hash, session_id, generation, issued_at, rotated_at) VALUES (${tokenRow})`)
  } else {
    const db = openSqlite(server.file)
    try {
      db.exec(`INSERT INTO sessions (${columns}) VALUES (${values});
        INSERT INTO refresh_tokens (hash, session_id, generation, issued_at, rotated_at) VALUES (${tokenRow})`)
    } finally {
      db.close()
    }
  }
  return { sessionId, token }
}
