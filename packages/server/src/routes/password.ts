import type { RouteFamily } from '../context.ts'
import { readJsonObject, stringField } from '../http/body.ts'
import { noContent } from '../http/respond.ts'

/**
 * `POST /auth/password`: checks the current password, sets the new one and
 * ends every other session. A browser also gets a brand-new session, so
 * whatever an attacker held of the old one is worthless.
 */
export const passwordRoutes: RouteFamily = (ctx) => {
  const { config, store, auth, credentials, sessions } = ctx
  const { now } = config
  return [
    {
      method: 'POST',
      path: `${config.basePath}/password`,
      async handler(request, info) {
        const identity = await auth.authenticateUnsafe(request, info)
        const body = await readJsonObject(request, config.maxBodyBytes)
        const currentPassword = stringField(body, 'currentPassword', { max: config.password.maxLength })
        const newPassword = stringField(body, 'newPassword', { max: config.password.maxLength })
        const user = await credentials.check(identity.username, currentPassword, info)
        credentials.checkNew(newPassword, user.username)
        await store.setPasswordHash(user.id, await credentials.hash(newPassword))
        config.log({ level: 'info', event: 'password_changed', via: identity.via, user: user.id, session: identity.sessionId, ip: info.clientIp })
        if (identity.via === 'bearer') {
          await sessions.broadcastRevoked(await store.revokeUserSessions(user.id, 'password_changed', now(), identity.sessionId))
          return noContent()
        }
        // The new session stays on this device: bound to the key the old one was bound to.
        const dpopJkt = (await store.findSession(identity.sessionId))?.dpopJkt ?? null
        const ids = await store.revokeUserSessions(user.id, 'password_changed', now())
        await sessions.broadcastRevoked([...new Set([...ids, identity.sessionId])])
        const fresh = sessions.browserResponse(await sessions.start(user, 'cookie', info, { dpopJkt }), user)
        const res = noContent()
        for (const c of fresh.headers.getSetCookie()) res.headers.append('Set-Cookie', c)
        return res
      },
    },
  ]
}
