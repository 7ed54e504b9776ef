import type { ResolvedConfig } from '../config.ts'
import { maskToken, mintCsrfToken } from '../csrf/token.ts'
import type { RequestInfo } from '../guards/request-info.ts'
import { json } from '../http/respond.ts'
import type { SessionCookies } from '../http/session-cookies.ts'
import { newSessionId, newTokenSalt, refreshTokenFor } from '../sessions.ts'
import type { SessionKind, SessionMethod, SessionRecord, Store, UserRecord } from '../store.ts'
import type { AccessTokens, SignedAccessToken } from '../tokens/access-token.ts'
import { revokeAllBound, type RevocationList } from '../tokens/revocation-list.ts'

export interface PublicUser {
  id: string
  username: string
  createdAt: string
}

export const publicUser = (u: UserRecord): PublicUser => ({ id: u.id, username: u.username, createdAt: new Date(u.createdAt).toISOString() })

/** The `client_id` claim of an access token, by the kind of session it belongs to. */
export const CLIENT_ID = { cookie: 'bastion-web', bearer: 'bastion-native' } as const

/** What else a new session records. */
export interface StartOptions {
  /** Thumbprint of the device key the client proved at this start (DPoP); null or absent: unbound. */
  dpopJkt?: string | null
  /** How the session signed in, shown in `GET /auth/sessions`. Default: `'password'`. */
  method?: SessionMethod
}

export interface StartedSession {
  session: SessionRecord
  refreshToken: string
  accessToken: SignedAccessToken
}

export interface SessionView {
  id: string
  createdAt: string
  lastUsedAt: string
  expiresAt: string
  accessExpiresAt?: string
}

/** Starting, describing and ending sessions. */
/** The URL a browser addressed, as a DPoP proof's `htu` names it: the public origin and the path, no query. */
export const proofUrl = (request: Request, info: RequestInfo): string => `${info.ownOrigin()}${new URL(request.url).pathname}`

export interface Sessions {
  /** A brand-new session (a fresh id: never one the browser brought) with its first refresh and access tokens. */
  start(user: UserRecord, kind: SessionKind, info: RequestInfo, extra?: StartOptions): Promise<StartedSession>
  view(session: SessionRecord, accessExpiresAt?: number): SessionView
  /** Sets the three browser cookies of a new session and answers its description. */
  browserResponse(started: StartedSession, user: UserRecord): Response
  /** Tells this and every other instance (through the bus) that these sessions are revoked; the store must already say so. */
  broadcastRevoked(ids: string[]): Promise<void>
  /** Revokes one session in the store and everywhere. */
  revoke(id: string, reason: string): Promise<void>
  /**
   * Every session and every access token issued before the next whole second
   * is refused, on every instance within the revocation bound, as one store
   * write and one number per instance. Returns that bound (ms).
   */
  revokeAll(): Promise<number>
  /** The session, if live in the store (the hot path never asks; rare endpoints do). */
  live(sessionId: string): Promise<SessionRecord | null>
}

export function sessions(
  config: ResolvedConfig,
  store: Store,
  access: AccessTokens,
  revoked: RevocationList,
  cookies: SessionCookies,
  keys: { csrf: Uint8Array; refreshToken: Uint8Array },
): Sessions {
  const csrfKey = keys.csrf
  const { now } = config

  const view = (s: SessionRecord, accessExpiresAt?: number): SessionView => ({
    id: s.id,
    createdAt: new Date(s.createdAt).toISOString(),
    lastUsedAt: new Date(s.lastUsedAt).toISOString(),
    expiresAt: new Date(Math.min(s.expiresAt, s.refreshExpiresAt)).toISOString(),
    ...(accessExpiresAt ? { accessExpiresAt: new Date(accessExpiresAt).toISOString() } : {}),
  })

  async function broadcastRevoked(ids: string[]): Promise<void> {
    try {
      await revoked.add(ids)
    } catch (e) {
      // The store already holds the revocation; other instances pick it up at their next poll of the store.
      config.log({ level: 'error', event: 'revocation_broadcast_failed', sessions: ids.length, error: String(e) })
    }
  }

  return {
    async start(user, kind, info, { dpopJkt = null, method = 'password' } = {}) {
      const t = now()
      const id = newSessionId()
      const tokenSalt = newTokenSalt()
      const session = await store.createSession({
        id,
        userId: user.id,
        kind,
        now: t,
        expiresAt: t + config.sessionMaxAge * 1000,
        refreshExpiresAt: Math.min(t + config.refreshTtl * 1000, t + config.sessionMaxAge * 1000),
        userAgent: info.userAgent,
        ip: info.clientIp,
        tokenSalt,
        dpopJkt,
        method,
      })
      const refreshToken = refreshTokenFor(keys.refreshToken, id, tokenSalt, 0)
      const accessToken = await access.sign({ userId: user.id, username: user.username, sessionId: id, clientId: CLIENT_ID[kind] })
      return { session, refreshToken, accessToken }
    },
    view,
    browserResponse(started, user) {
      const csrf = mintCsrfToken(csrfKey, { kind: 'session', sessionId: started.session.id })
      const res = json({ user: publicUser(user), session: view(started.session, started.accessToken.expiresAt), csrfToken: maskToken(csrf) })
      cookies.setAccess(res.headers, started.accessToken.cookie)
      cookies.setRefresh(res.headers, started.refreshToken, started.session)
      cookies.setCsrf(res.headers, csrf, cookies.maxAge(started.session))
      return res
    },
    broadcastRevoked,
    async revoke(id, reason) {
      await store.revokeSession(id, reason, now())
      await broadcastRevoked([id])
    },
    async revokeAll() {
      const notBefore = revokeAllBound(now())
      await store.revokeAllSessions(notBefore)
      try {
        await revoked.revokeAll(notBefore)
      } catch (e) {
        config.log({ level: 'error', event: 'revocation_broadcast_failed', sessions: 'all', error: String(e) })
      }
      config.log({ level: 'warn', event: 'revoked_all', notBefore })
      return notBefore
    },
    async live(sessionId) {
      const s = await store.findSession(sessionId)
      const t = now()
      return s && s.revokedAt === null && t < s.expiresAt && t < s.refreshExpiresAt ? s : null
    },
  }
}
