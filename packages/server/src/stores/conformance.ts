/**
 * The behaviour every `Store` must show, as one vitest suite that each store
 * runs against itself.
 *
 * @example
 * ```ts
 * describeStoreConformance('sqlite', async () => sqliteStore({ file: tmpFile() }))
 * ```
 */
import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StoreConflictError } from '../errors.ts'
import { NO_PASSWORD, type IdentityRecord, type NewSession, type RateLimitStore, type RotateRefreshInput, type SessionRecord, type Store } from '../store.ts'

type TestStore = Store & { rateLimits: RateLimitStore }

const MIN = 60_000
const HOUR = 60 * MIN
const T0 = 1_700_000_000_000

const uid = (prefix: string) => `${prefix}_${randomUUID()}`

export function describeStoreConformance(name: string, makeStore: () => Promise<TestStore>): void {
  describe(`store conformance: ${name}`, () => {
    let store: TestStore

    beforeEach(async () => {
      store = await makeStore()
      await store.migrate()
    })
    afterEach(async () => {
      await store.close()
    })

    const newUser = async (username = uid('user')) => {
      const user = { id: uid('u'), username, passwordHash: '$argon2id$hash', createdAt: T0 }
      await store.createUser(user)
      return user
    }

    const newSession = async (userId: string, over: Partial<NewSession> = {}) => {
      const input: NewSession = {
        id: uid('s'),
        userId,
        kind: 'cookie',
        now: T0,
        expiresAt: T0 + 24 * HOUR,
        refreshExpiresAt: T0 + HOUR,
        userAgent: 'vitest',
        ip: '127.0.0.1',
        tokenSalt: uid('salt'),
        ...over,
      }
      const session = await store.createSession(input)
      return { input, session }
    }

    /** Presents generation `generation` of a session's refresh token. */
    const rotate = (sessionId: string, generation: number, now: number, over: Partial<RotateRefreshInput> = {}) =>
      store.rotateRefresh({
        sessionId,
        presented: { generation },
        tokenSalt: uid('salt'),
        now,
        graceMs: 30_000,
        refreshExpiresAt: (s: SessionRecord) => Math.min(now + HOUR, s.expiresAt),
        ...over,
      })

    describe('users', () => {
      it('creates and finds a user by username and by id', async () => {
        const user = await newUser()
        expect(await store.findUserByUsername(user.username)).toEqual(user)
        expect(await store.findUserById(user.id)).toEqual(user)
        expect(await store.findUserByUsername(uid('nobody'))).toBeNull()
        expect(await store.findUserById(uid('nobody'))).toBeNull()
      })

      it('finds nothing (never throws) for keys no record can have: NUL, lone surrogates, very long', async () => {
        await newUser()
        for (const key of ['a\u0000b', '\u0000', '\ud800x', 'x'.repeat(10_000)]) {
          expect(await store.findUserByUsername(key)).toBeNull()
          expect(await store.findUserById(key)).toBeNull()
          expect(await store.findSession(key)).toBeNull()
          expect(await store.revokeSession(key, 'test', T0)).toBe(false)
        }
      })

      it('refuses a duplicate username with StoreConflictError', async () => {
        const user = await newUser()
        await expect(
          store.createUser({ id: uid('u'), username: user.username, passwordHash: 'x', createdAt: T0 }),
        ).rejects.toBeInstanceOf(StoreConflictError)
      })

      it('stores usernames as given', async () => {
        const username = `Mixed.Case_${randomUUID()}`
        await newUser(username)
        expect((await store.findUserByUsername(username))?.username).toBe(username)
      })

      it('sets a password hash', async () => {
        const user = await newUser()
        await store.setPasswordHash(user.id, 'new-hash')
        expect((await store.findUserById(user.id))?.passwordHash).toBe('new-hash')
      })
    })

    describe('sessions', () => {
      it('creates a session at generation 0 and finds it', async () => {
        const user = await newUser()
        const { input, session } = await newSession(user.id, { kind: 'bearer', userAgent: null, ip: null })
        const expected: SessionRecord = {
          id: input.id,
          userId: user.id,
          kind: 'bearer',
          createdAt: T0,
          lastUsedAt: T0,
          expiresAt: input.expiresAt,
          refreshExpiresAt: input.refreshExpiresAt,
          userAgent: null,
          ip: null,
          revokedAt: null,
          revokedReason: null,
          generation: 0,
          tokenSalt: input.tokenSalt,
          rotatedAt: null,
          dpopJkt: null,
          method: 'password',
        }
        expect(session).toEqual(expected)
        expect(await store.findSession(input.id)).toEqual(expected)
        expect(await store.findSession(uid('s'))).toBeNull()
      })

      it('keeps the device-key thumbprint of a bound session through rotation and grace', async () => {
        const user = await newUser()
        const jkt = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
        const { input, session } = await newSession(user.id, { dpopJkt: jkt })
        expect(session.dpopJkt).toBe(jkt)
        expect((await store.findSession(input.id))?.dpopJkt).toBe(jkt)
        const rotated = await rotate(input.id, 0, T0 + 1000)
        expect(rotated).toMatchObject({ kind: 'rotated', session: { dpopJkt: jkt } })
        expect(await rotate(input.id, 0, T0 + 2000)).toMatchObject({ kind: 'grace', session: { dpopJkt: jkt } })
        expect((await store.listLiveSessions(user.id, T0 + 3000))[0]?.dpopJkt).toBe(jkt)
        const { session: unbound } = await newSession(user.id, { dpopJkt: null })
        expect(unbound.dpopJkt).toBeNull()
      })

      it('lists live sessions, most recently used first', async () => {
        const user = await newUser()
        const a = await newSession(user.id)
        const b = await newSession(user.id)
        const revoked = await newSession(user.id)
        const expired = await newSession(user.id, { expiresAt: T0 + MIN, refreshExpiresAt: T0 + MIN })
        const idle = await newSession(user.id, { refreshExpiresAt: T0 + MIN })
        await newSession((await newUser()).id)
        await store.revokeSession(revoked.input.id, 'logout', T0 + 1)
        // Using `a` later moves it to the front.
        expect((await rotate(a.input.id, 0, T0 + 2 * MIN)).kind).toBe('rotated')
        const live = await store.listLiveSessions(user.id, T0 + 2 * MIN)
        expect(live.map((s) => s.id)).toEqual([a.input.id, b.input.id])
        expect(live.map((s) => s.id)).not.toContain(expired.input.id)
        expect(live.map((s) => s.id)).not.toContain(idle.input.id)
      })

      it('revokes a session once', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        expect(await store.revokeSession(input.id, 'logout', T0 + 5)).toBe(true)
        expect(await store.revokeSession(input.id, 'again', T0 + 6)).toBe(false)
        expect(await store.revokeSession(uid('s'), 'logout', T0 + 6)).toBe(false)
        const s = await store.findSession(input.id)
        expect(s?.revokedAt).toBe(T0 + 5)
        expect(s?.revokedReason).toBe('logout')
      })

      it('revokes every live session of a user but one and returns their ids', async () => {
        const user = await newUser()
        const keep = await newSession(user.id)
        const a = await newSession(user.id)
        const b = await newSession(user.id)
        const already = await newSession(user.id)
        const expired = await newSession(user.id, { expiresAt: T0 + MIN, refreshExpiresAt: T0 + MIN })
        const other = await newSession((await newUser()).id)
        await store.revokeSession(already.input.id, 'logout', T0 + 1)
        const now = T0 + 2 * MIN
        const ids = await store.revokeUserSessions(user.id, 'password_changed', now, keep.input.id)
        expect([...ids].sort()).toEqual([a.input.id, b.input.id].sort())
        expect((await store.findSession(a.input.id))?.revokedReason).toBe('password_changed')
        expect((await store.findSession(a.input.id))?.revokedAt).toBe(now)
        expect((await store.findSession(keep.input.id))?.revokedAt).toBeNull()
        expect((await store.findSession(already.input.id))?.revokedReason).toBe('logout')
        expect((await store.findSession(expired.input.id))?.revokedAt).toBeNull()
        expect((await store.findSession(other.input.id))?.revokedAt).toBeNull()
        expect(await store.revokeUserSessions(user.id, 'x', now + 1)).toEqual([keep.input.id])
      })

      it('lists sessions revoked at or after a time', async () => {
        const user = await newUser()
        const base = T0 + 10 * HOUR + Math.floor(Math.random() * HOUR)
        const early = await newSession(user.id)
        const atSince = await newSession(user.id)
        const late = await newSession(user.id)
        await store.revokeSession(early.input.id, 'logout', base - 1)
        await store.revokeSession(atSince.input.id, 'logout', base)
        await store.revokeSession(late.input.id, 'logout', base + 100)
        const ids = await store.revokedSince(base)
        expect(ids).toContain(atSince.input.id)
        expect(ids).toContain(late.input.id)
        expect(ids).not.toContain(early.input.id)
      })
    })

    describe('identities', () => {
      const identityOf = (userId: string, over: Partial<IdentityRecord> = {}): IdentityRecord => ({
        provider: 'oidc',
        subject: uid('sub'),
        userId,
        email: 'someone@example.com',
        emailVerified: true,
        createdAt: T0,
        ...over,
      })
      const passwordless = (username = uid('oidc')) => ({ id: uid('u'), username, passwordHash: NO_PASSWORD, createdAt: T0 })

      it('creates a user with its provider account in one step, and finds it by provider + subject', async () => {
        const user = passwordless()
        const identity = identityOf(user.id)
        await store.createUserWithIdentity(user, identity)
        expect(await store.findUserById(user.id)).toEqual(user)
        expect(await store.findIdentity('oidc', identity.subject)).toEqual(identity)
        expect(await store.listIdentities(user.id)).toEqual([identity])
        // The subject is scoped by provider: the same sub at another provider is another account.
        expect(await store.findIdentity('github', identity.subject)).toBeNull()
        expect(await store.findIdentity('oidc', 'a\u0000b')).toBeNull()
      })

      it('creates nothing when the username is taken: no identity left behind', async () => {
        const taken = await newUser()
        const user = passwordless(taken.username)
        const identity = identityOf(user.id)
        await expect(store.createUserWithIdentity(user, identity)).rejects.toBeInstanceOf(StoreConflictError)
        expect(await store.findIdentity('oidc', identity.subject)).toBeNull()
        expect(await store.findUserById(user.id)).toBeNull()
      })

      it('creates nothing when the provider account is already linked: no second user', async () => {
        const first = passwordless()
        const identity = identityOf(first.id)
        await store.createUserWithIdentity(first, identity)
        const second = passwordless()
        await expect(store.createUserWithIdentity(second, { ...identity, userId: second.id })).rejects.toBeInstanceOf(StoreConflictError)
        expect(await store.findUserById(second.id)).toBeNull()
        expect(await store.findUserByUsername(second.username)).toBeNull()
        expect((await store.findIdentity('oidc', identity.subject))?.userId).toBe(first.id)
      })

      it('links a provider account to an existing user once; linking it again (to anyone) conflicts', async () => {
        const user = await newUser()
        const identity = identityOf(user.id, { emailVerified: false, email: null })
        await store.linkIdentity(identity)
        expect(await store.findIdentity('oidc', identity.subject)).toEqual(identity)
        const other = await newUser()
        await expect(store.linkIdentity({ ...identity, userId: other.id })).rejects.toBeInstanceOf(StoreConflictError)
        await expect(store.linkIdentity(identity)).rejects.toBeInstanceOf(StoreConflictError)
        expect(await store.listIdentities(other.id)).toEqual([])
        const github = identityOf(user.id, { provider: 'github', createdAt: T0 + 1 })
        await store.linkIdentity(github)
        expect(await store.listIdentities(user.id)).toEqual([identity, github])
      })

      it('10 concurrent first sign-ins of one provider account: exactly one user created', async () => {
        const subject = uid('sub')
        const users = Array.from({ length: 10 }, () => passwordless())
        const results = await Promise.allSettled(users.map((u) => store.createUserWithIdentity(u, identityOf(u.id, { subject }))))
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreConflictError)
        const owner = (await store.findIdentity('oidc', subject))!.userId
        for (const u of users) expect(await store.findUserById(u.id)).toEqual(u.id === owner ? u : null)
      })

      it('records how a session signed in', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id, { method: 'oauth:oidc' })
        expect((await store.findSession(input.id))?.method).toBe('oauth:oidc')
        expect((await store.listLiveSessions(user.id, T0))[0]?.method).toBe('oauth:oidc')
        const { input: plain } = await newSession(user.id)
        expect((await store.findSession(plain.id))?.method).toBe('password')
      })
    })

    describe('rotateRefresh', () => {
      it('rotates the current generation: the next one becomes current, and the store keeps no token', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        const now = T0 + MIN
        const out = await rotate(input.id, 0, now, {
          refreshExpiresAt: (s) => {
            expect(s.generation).toBe(0)
            return now + 2 * HOUR
          },
        })
        expect(out.kind).toBe('rotated')
        expect(out.session).toMatchObject({ id: input.id, generation: 1, lastUsedAt: now, rotatedAt: now, refreshExpiresAt: now + 2 * HOUR, tokenSalt: input.tokenSalt })
        expect(await store.findSession(input.id)).toEqual(out.session)
        const next = await rotate(input.id, 1, now + 2 * MIN)
        expect(next.kind).toBe('rotated')
        expect(next.session?.generation).toBe(2)
      })

      it('answers grace for the previous generation within the grace window, without rotating again', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        await rotate(input.id, 0, T0 + MIN)
        const out = await rotate(input.id, 0, T0 + MIN + 30_000)
        expect(out.kind).toBe('grace')
        expect(out.session).toMatchObject({ id: input.id, generation: 1, revokedAt: null })
        const stored = await store.findSession(input.id)
        expect(stored?.generation).toBe(1)
        expect(stored?.lastUsedAt).toBe(T0 + MIN + 30_000)
        expect((await rotate(input.id, 1, T0 + 2 * MIN)).kind).toBe('rotated')
      })

      it('treats the previous generation after the grace window as reuse and revokes the session', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        await rotate(input.id, 0, T0 + MIN)
        const now = T0 + MIN + 30_001
        const out = await rotate(input.id, 0, now)
        expect(out.kind).toBe('reused')
        expect(out.session).toMatchObject({ id: input.id, revokedAt: now, revokedReason: 'refresh_token_reuse' })
        expect(await store.findSession(input.id)).toMatchObject({ revokedAt: now, revokedReason: 'refresh_token_reuse' })
        // Even the current generation is dead now.
        const after = await rotate(input.id, 1, now + 1)
        expect(after.kind).toBe('invalid')
        expect(after.session?.id).toBe(input.id)
      })

      it('treats an older generation as reuse, even within the grace window, and 500 generations back too', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        await rotate(input.id, 0, T0 + MIN)
        await rotate(input.id, 1, T0 + MIN + 1)
        expect((await rotate(input.id, 0, T0 + MIN + 2)).kind).toBe('reused')
        const long = await newSession(user.id)
        for (let g = 0; g < 500; g++) expect((await rotate(long.input.id, g, T0 + MIN + g)).kind).toBe('rotated')
        expect((await rotate(long.input.id, 0, T0 + 2 * MIN)).kind).toBe('reused')
        expect((await store.findSession(long.input.id))?.revokedReason).toBe('refresh_token_reuse')
      })

      it('answers invalid, changing nothing, for a generation never issued and for an unknown session', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        const out = await rotate(input.id, 5, T0 + MIN)
        expect(out.kind).toBe('invalid')
        expect(await store.findSession(input.id)).toMatchObject({ generation: 0, revokedAt: null })
        expect(await rotate(uid('unknown'), 0, T0)).toEqual({ kind: 'invalid', session: null })
      })

      it('answers invalid for a revoked session, and does not rotate', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        await store.revokeSession(input.id, 'logout', T0 + 1)
        const out = await rotate(input.id, 0, T0 + 2)
        expect(out.kind).toBe('invalid')
        expect(out.session).toMatchObject({ id: input.id, revokedReason: 'logout', generation: 0 })
        expect((await store.findSession(input.id))?.generation).toBe(0)
      })

      it('answers invalid past the absolute end and past the idle end', async () => {
        const user = await newUser()
        const abs = await newSession(user.id, { expiresAt: T0 + MIN, refreshExpiresAt: T0 + MIN })
        const outAbs = await rotate(abs.input.id, 0, T0 + MIN)
        expect(outAbs.kind).toBe('invalid')
        expect(outAbs.session?.id).toBe(abs.input.id)
        const idle = await newSession(user.id, { refreshExpiresAt: T0 + MIN })
        const outIdle = await rotate(idle.input.id, 0, T0 + MIN)
        expect(outIdle.kind).toBe('invalid')
        expect(outIdle.session?.id).toBe(idle.input.id)
        expect((await store.findSession(idle.input.id))?.revokedAt).toBeNull()
      })

      it('20 concurrent rotations of one generation: exactly one rotated, 19 grace, the next generation current', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        const now = T0 + MIN
        const outs = await Promise.all(Array.from({ length: 20 }, () => rotate(input.id, 0, now)))
        const kinds = outs.map((o) => o.kind)
        expect(kinds.filter((k) => k === 'rotated')).toHaveLength(1)
        expect(kinds.filter((k) => k === 'grace')).toHaveLength(19)
        expect(outs.every((o) => o.session?.generation === 1)).toBe(true)
        expect((await store.findSession(input.id))?.generation).toBe(1)
        expect((await rotate(input.id, 1, now + 2)).kind).toBe('rotated')
      })
    })

    describe('rotateRefresh from the caller\'s read (seen)', () => {
      it('rotates from the read and answers the session\'s user with the rotation (and with a grace)', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        const seen = (await store.findSession(input.id))!
        const out = await rotate(input.id, 0, T0 + MIN, { seen })
        expect(out).toMatchObject({ kind: 'rotated', owner: user, session: { id: input.id, generation: 1, lastUsedAt: T0 + MIN, rotatedAt: T0 + MIN } })
        expect(await store.findSession(input.id)).toEqual(out.session)
        const grace = await rotate(input.id, 0, T0 + MIN + 1)
        expect(grace).toMatchObject({ kind: 'grace', owner: user, session: { generation: 1 } })
      })

      it('a read that is stale (the session moved on since) does not rotate twice: the racing tab gets grace, later reuse', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        const seen = (await store.findSession(input.id))!
        expect((await rotate(input.id, 0, T0 + MIN)).kind).toBe('rotated')
        const racing = await rotate(input.id, 0, T0 + MIN + 1, { seen })
        expect(racing).toMatchObject({ kind: 'grace', session: { generation: 1 } })
        expect((await store.findSession(input.id))?.generation).toBe(1)
        expect((await rotate(input.id, 0, T0 + 2 * MIN, { seen })).kind).toBe('reused')
        expect((await store.findSession(input.id))?.revokedReason).toBe('refresh_token_reuse')
      })

      it('a session revoked, expired or under a revoke-all since the read is not rotated', async () => {
        const user = await newUser()
        const revoked = await newSession(user.id)
        const seenRevoked = (await store.findSession(revoked.input.id))!
        await store.revokeSession(revoked.input.id, 'logout', T0 + 1)
        expect((await rotate(revoked.input.id, 0, T0 + 2, { seen: seenRevoked })).kind).toBe('invalid')
        expect((await store.findSession(revoked.input.id))?.generation).toBe(0)

        const idle = await newSession(user.id, { refreshExpiresAt: T0 + MIN })
        const seenIdle = (await store.findSession(idle.input.id))!
        expect((await rotate(idle.input.id, 0, T0 + MIN, { seen: seenIdle })).kind).toBe('invalid')
        expect((await store.findSession(idle.input.id))?.generation).toBe(0)

        // Below T0 (as in the revoke-all tests), above any bound a test before this one set.
        const made = Math.max(await store.sessionsNotBefore(), T0 - 3 * HOUR) + 1
        const old = await newSession(user.id, { now: made, expiresAt: T0 + HOUR, refreshExpiresAt: T0 + HOUR })
        const seenOld = (await store.findSession(old.input.id))!
        expect(seenOld.revokedAt).toBeNull()
        await store.revokeAllSessions(made + 1)
        expect((await rotate(old.input.id, 0, T0 + 2, { seen: seenOld })).kind).toBe('invalid')
        expect((await store.findSession(old.input.id))).toMatchObject({ generation: 0, revokedReason: 'revoked_all' })
      })

      it('20 concurrent rotations from one read: exactly one rotated, 19 grace', async () => {
        const user = await newUser()
        const { input } = await newSession(user.id)
        const seen = (await store.findSession(input.id))!
        const outs = await Promise.all(Array.from({ length: 20 }, () => rotate(input.id, 0, T0 + MIN, { seen })))
        expect(outs.filter((o) => o.kind === 'rotated')).toHaveLength(1)
        expect(outs.filter((o) => o.kind === 'grace')).toHaveLength(19)
        expect((await store.findSession(input.id))?.generation).toBe(1)
      })
    })

    describe('revoke all', () => {
      it('one write ends every session made before the bound: found revoked, not listed, not rotated; later ones live', async () => {
        // Below T0, so that a store shared by the file's other tests keeps their sessions (made at T0) live.
        const user = await newUser()
        const before = await newSession(user.id, { now: T0 - 2 * HOUR })
        const bound = T0 - HOUR
        const floor = await store.sessionsNotBefore()
        await store.revokeAllSessions(bound)
        expect(await store.sessionsNotBefore()).toBe(Math.max(floor, bound))
        const after = await newSession(user.id, { now: bound + 1 })
        expect(await store.findSession(before.input.id)).toMatchObject({ revokedReason: 'revoked_all' })
        expect((await store.findSession(after.input.id))?.revokedAt).toBeNull()
        expect((await store.listLiveSessions(user.id, bound + 2)).map((s) => s.id)).toEqual([after.input.id])
        expect((await rotate(before.input.id, 0, bound + 2)).kind).toBe('invalid')
        expect((await rotate(after.input.id, 0, bound + 2)).kind).toBe('rotated')
        expect(await store.revokeUserSessions(user.id, 'x', bound + 3)).toEqual([after.input.id])
        // The bound never moves back.
        await store.revokeAllSessions(bound - HOUR)
        expect(await store.sessionsNotBefore()).toBe(Math.max(floor, bound))
      })
    })

    describe('keys', () => {
      it('inserts, lists and retires keys', async () => {
        const kid = uid('k')
        const key = { kid, alg: 'EdDSA', publicJwk: '{"kty":"OKP"}', sealedPrivateJwk: 'sealed', createdAt: T0, retiredAt: null }
        await store.insertKey(key)
        expect((await store.listKeys()).find((k) => k.kid === kid)).toEqual(key)
        await store.retireKey(kid, T0 + HOUR)
        expect((await store.listKeys()).find((k) => k.kid === kid)?.retiredAt).toBe(T0 + HOUR)
      })
    })

    describe('rate limits', () => {
      rateLimitTests(() => store.rateLimits)
    })
  })
}

/**
 * The behaviour every `RateLimitStore` must show (also run by stores that
 * keep only counters, such as Redis).
 */
export function describeRateLimitConformance(
  name: string,
  makeLimits: () => Promise<RateLimitStore & { close(): Promise<void> }>,
): void {
  describe(`rate-limit conformance: ${name}`, () => {
    let limits: RateLimitStore & { close(): Promise<void> }
    beforeEach(async () => {
      limits = await makeLimits()
    })
    afterEach(async () => {
      await limits.close()
    })
    rateLimitTests(() => limits)
  })
}

function rateLimitTests(limits: () => RateLimitStore): void {
  it('counts hits in a fixed window and starts over in the next', async () => {
    const key = uid('login')
    const windowMs = MIN
    const start = T0 - (T0 % windowMs)
    expect(await limits().peek(key, windowMs, start + 10)).toEqual({ count: 0, resetAt: start + windowMs })
    expect(await limits().hit(key, windowMs, start + 10)).toEqual({ count: 1, resetAt: start + windowMs })
    expect(await limits().hit(key, windowMs, start + 20)).toEqual({ count: 2, resetAt: start + windowMs })
    expect(await limits().hit(key, windowMs, start + windowMs - 1)).toEqual({ count: 3, resetAt: start + windowMs })
    expect(await limits().peek(key, windowMs, start + 30)).toEqual({ count: 3, resetAt: start + windowMs })
    // Next window.
    expect(await limits().peek(key, windowMs, start + windowMs)).toEqual({ count: 0, resetAt: start + 2 * windowMs })
    expect(await limits().hit(key, windowMs, start + windowMs)).toEqual({ count: 1, resetAt: start + 2 * windowMs })
  })

  it('keeps keys apart, counts concurrent hits exactly, and resets', async () => {
    const a = uid('a')
    const b = uid('b')
    await Promise.all(Array.from({ length: 25 }, () => limits().hit(a, MIN, T0)))
    await limits().hit(b, MIN, T0)
    expect((await limits().peek(a, MIN, T0)).count).toBe(25)
    expect((await limits().peek(b, MIN, T0)).count).toBe(1)
    await limits().reset(a)
    expect((await limits().peek(a, MIN, T0)).count).toBe(0)
    expect((await limits().peek(b, MIN, T0)).count).toBe(1)
    expect((await limits().hit(a, MIN, T0)).count).toBe(1)
  })
}
