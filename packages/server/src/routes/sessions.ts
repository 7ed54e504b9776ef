import type { RouteFamily } from '../context.ts'
import { BastionError } from '../errors.ts'
import { json, noContent } from '../http/respond.ts'

/** A user's devices: list live sessions, revoke one, revoke all. */
export const sessionsRoutes: RouteFamily = (ctx) => {
  const { config, store, auth, cookies, sessions } = ctx
  const base = config.basePath
  return [
    {
      method: 'GET',
      path: `${base}/sessions`,
      async handler(request, info) {
        const identity = await auth.authenticate(request, info)
        const live = await store.listLiveSessions(identity.userId, config.now())
        return json({
          sessions: live.map((s) => ({ ...sessions.view(s), userAgent: s.userAgent, kind: s.kind, method: s.method, current: s.id === identity.sessionId })),
        })
      },
    },
    {
      method: 'DELETE',
      path: `${base}/sessions/:id`,
      async handler(request, info, { id }) {
        const identity = await auth.authenticateUnsafe(request, info)
        const target = id ? await store.findSession(id) : null
        if (!target || target.userId !== identity.userId || target.revokedAt !== null) throw new BastionError('not_found', 'No such session.')
        await sessions.revoke(target.id, 'revoked_by_user')
        config.log({ level: 'info', event: 'session_revoked', user: identity.userId, session: target.id, by: identity.sessionId, ip: info.clientIp })
        const res = noContent()
        if (target.id === identity.sessionId && identity.via === 'cookie') cookies.clearAll(res.headers)
        return res
      },
    },
    {
      method: 'POST',
      path: `${base}/logout-all`,
      async handler(request, info) {
        const identity = await auth.authenticateUnsafe(request, info)
        const ids = await store.revokeUserSessions(identity.userId, 'logout_all', config.now())
        await sessions.broadcastRevoked([...new Set([...ids, identity.sessionId])])
        config.log({ level: 'info', event: 'logout_all', user: identity.userId, session: identity.sessionId, sessions: ids.length, ip: info.clientIp })
        const res = noContent()
        if (identity.via === 'cookie') cookies.clearAll(res.headers)
        return res
      },
    },
  ]
}
