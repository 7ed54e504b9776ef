import type { RouteFamily } from '../context.ts'
import { maskToken, mintCsrfToken, verifyCsrfToken } from '../csrf/token.ts'
import { BastionError } from '../errors.ts'
import { checkOrigin } from '../guards/origin.ts'
import { singleCookie } from '../guards/request-info.ts'
import { readJsonObject, stringField } from '../http/body.ts'
import { json, noContent } from '../http/respond.ts'
import { refreshTokenSession } from '../sessions.ts'
import { proofUrl, publicUser } from '../services/sessions.ts'
import { headerOf } from '../http/header-of.ts'

/** How long a pre-session's CSRF cookie lives, in seconds: enough to fill in a sign-in form. */
const PRE_SESSION_MAX_AGE = 60 * 60 * 2

/**
 * Signing in and out: the CSRF pre-session, register, login (cookies),
 * token (native bearer clients), logout and "who am I".
 */
export const sessionRoutes: RouteFamily = (ctx) => {
  const { config, store, access, auth, cookies, credentials, sessions, keys, binding } = ctx
  const base = config.basePath
  return [
    {
      method: 'GET',
      path: `${base}/csrf`,
      async handler(request, info) {
        // Signed in (even with an expired access cookie): hand out, masked, the live session's token.
        // Otherwise start a pre-session. Never replace a live session's token with a pre-session one.
        const sessionId = headerOf(request, 'authorization') !== null ? (await auth.authenticate(request, info)).sessionId : await auth.cookieSessionId(info)
        const session = sessionId ? await sessions.live(sessionId) : null
        const current = singleCookie(info, config.cookies.csrf.name)
        if (session) {
          if (current && verifyCsrfToken(keys.csrf, current, { kind: 'session', sessionId: session.id })) return json({ csrfToken: maskToken(current) })
          const token = mintCsrfToken(keys.csrf, { kind: 'session', sessionId: session.id })
          const res = json({ csrfToken: maskToken(token) })
          cookies.setCsrf(res.headers, token, cookies.maxAge(session))
          return res
        }
        if (current && verifyCsrfToken(keys.csrf, current, { kind: 'pre' })) return json({ csrfToken: maskToken(current) })
        const token = mintCsrfToken(keys.csrf, { kind: 'pre' })
        const res = json({ csrfToken: maskToken(token) })
        cookies.setCsrf(res.headers, token, PRE_SESSION_MAX_AGE)
        return res
      },
    },
    {
      method: 'POST',
      path: `${base}/register`,
      async handler(request, info) {
        checkOrigin(request, info, config)
        auth.checkCsrf(request, info, await auth.preSessionBindings(info))
        await credentials.throttle('register_address', `register:ip:${info.clientIp}`, config.rateLimit.registerPerAddress, info)
        const body = await readJsonObject(request, config.maxBodyBytes)
        const username = stringField(body, 'username', { max: 256 })
        const password = stringField(body, 'password', { max: config.password.maxLength + 1 })
        const user = await credentials.createUser(username, password)
        config.log({ level: 'info', event: 'user_registered', user: user.id, ip: info.clientIp })
        return json({ user: publicUser(user) }, 201)
      },
    },
    {
      method: 'POST',
      path: `${base}/login`,
      async handler(request, info) {
        checkOrigin(request, info, config)
        const previous = auth.checkCsrf(request, info, await auth.preSessionBindings(info))
        // Before the password: a bad proof costs no hash, and a skewed clock retries with the nonce before any attempt is counted.
        const dpopJkt = await binding.bindingFor(request, proofUrl(request, info))
        const body = await readJsonObject(request, config.maxBodyBytes)
        const { username, password } = credentials.read(body)
        const user = await credentials.check(username, password, info)
        // Never carry a session across a login: the one this browser proved it holds (by its CSRF MAC) ends here.
        if (previous.kind === 'session') await sessions.revoke(previous.sessionId, 'replaced_by_login')
        const started = await sessions.start(user, 'cookie', info, { dpopJkt })
        config.log({ level: 'info', event: 'login', via: 'cookie', user: user.id, session: started.session.id, ip: info.clientIp, bound: dpopJkt !== null })
        return sessions.browserResponse(started, user)
      },
    },
    {
      method: 'POST',
      path: `${base}/token`,
      async handler(request, info) {
        auth.refuseBrowsers(request)
        // Native clients may bind too: the same proof, and their refresh then needs one by the same key.
        const dpopJkt = await binding.bindingFor(request, proofUrl(request, info))
        const body = await readJsonObject(request, config.maxBodyBytes)
        const { username, password } = credentials.read(body)
        const user = await credentials.check(username, password, info)
        const started = await sessions.start(user, 'bearer', info, { dpopJkt })
        config.log({ level: 'info', event: 'login', via: 'bearer', user: user.id, session: started.session.id, ip: info.clientIp, bound: dpopJkt !== null })
        return json({ accessToken: started.accessToken.token, refreshToken: started.refreshToken, tokenType: 'Bearer', expiresIn: config.accessTtl })
      },
    },
    {
      method: 'POST',
      path: `${base}/logout`,
      async handler(request, info) {
        if (headerOf(request, 'authorization') !== null) {
          const identity = await auth.authenticate(request, info)
          await sessions.revoke(identity.sessionId, 'logout')
          config.log({ level: 'info', event: 'logout', via: 'bearer', user: identity.userId, session: identity.sessionId, ip: info.clientIp })
          return noContent()
        }
        checkOrigin(request, info, config)
        const refresh = singleCookie(info, config.cookies.refresh.name)
        let sessionId = refresh ? refreshTokenSession(refresh) : null
        if (!sessionId) {
          const token = singleCookie(info, config.cookies.access.name)
          sessionId = token ? ((await access.verifyCookie(token).catch(() => null))?.sid ?? null) : null
        }
        auth.checkCsrf(request, info, sessionId ? [{ kind: 'session', sessionId }] : [{ kind: 'pre' }])
        if (sessionId) {
          // The CSRF MAC proved the browser holds this session's token; the refresh cookie alone is not trusted blindly.
          await sessions.revoke(sessionId, 'logout')
          config.log({ level: 'info', event: 'logout', via: 'cookie', session: sessionId, ip: info.clientIp })
        }
        const res = noContent()
        cookies.clearAll(res.headers)
        return res
      },
    },
    {
      method: 'GET',
      path: `${base}/session`,
      async handler(request, info) {
        const identity = await auth.authenticate(request, info)
        const [user, session] = await Promise.all([store.findUserById(identity.userId), store.findSession(identity.sessionId)])
        if (!user || !session || session.revokedAt !== null) throw new BastionError('unauthenticated', 'The session has ended.')
        return json({ user: publicUser(user), session: sessions.view(session, identity.claims.exp * 1000) })
      },
    },
  ]
}
