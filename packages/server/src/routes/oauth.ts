import type { RouteFamily } from '../context.ts'
import { BastionError, StoreUnavailableError } from '../errors.ts'
import { checkOrigin } from '../guards/origin.ts'
import { singleCookie, type RequestInfo } from '../guards/request-info.ts'
import { serializeCookie } from '../http/cookies.ts'
import { readJsonObject } from '../http/body.ts'
import { json } from '../http/respond.ts'
import { OAuthError, type OAuthErrorCode } from '../oauth/client.ts'
import type { OAuthFlow } from '../oauth/flow.ts'
import { proofUrl } from '../services/sessions.ts'

/**
 * Sign-in through an external provider (contract: "Sign-in through an
 * external identity provider"): `GET /auth/providers`, `POST
 * /auth/oauth/:provider` (CSRF-checked like login, answers the provider's
 * URL and sets the sealed `__Host-oauth` cookie), and its callback, which
 * always answers a 303: to `returnTo` with a fresh session, or to
 * `/?auth_error=<code>` with nothing created and no session.
 */
export const oauthRoutes =
  (flow: OAuthFlow | null): RouteFamily =>
  (ctx) => {
    const { config, auth, cookies, sessions, binding: deviceBinding } = ctx
    const base = config.basePath
    const stateCookie = { name: flow?.cookieName ?? '__Host-oauth', sameSite: 'Lax' as const, path: '/' }
    const setState = (h: Headers, value: string, maxAge: number) => h.append('Set-Cookie', serializeCookie(stateCookie, { value, maxAge, httpOnly: true }))
    const clearState = (h: Headers) => setState(h, '', 0)
    const redirectUri = (info: RequestInfo, provider: string) => `${info.ownOrigin()}${base}/oauth/${provider}/callback`

    const seeOther = (location: string): Response =>
      new Response(null, {
        status: 303,
        // The callback URL carried a code: keep it out of caches and of the next page's Referer.
        headers: { Location: location, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' },
      })

    /** The user of the live session these cookies name, if any. */
    async function currentUserId(info: RequestInfo): Promise<string | null> {
      const sessionId = await auth.cookieSessionId(info).catch(() => null)
      const session = sessionId ? await sessions.live(sessionId) : null
      return session?.userId ?? null
    }

    const routes: ReturnType<RouteFamily> = [
      {
        method: 'GET',
        path: `${base}/providers`,
        async handler() {
          return json({ providers: flow?.list() ?? [] })
        },
      },
    ]
    if (!flow) return routes

    routes.push(
      {
        method: 'POST',
        path: `${base}/oauth/:provider`,
        async handler(request, info, { provider }) {
          checkOrigin(request, info, config)
          const binding = auth.checkCsrf(request, info, await auth.preSessionBindings(info))
          if (!provider || !flow.provider(provider)) throw new BastionError('not_found', 'No such provider.')
          const hasBody = request.headers.get('content-length') !== '0' && request.body !== null
          const body = hasBody ? await readJsonObject(request, config.maxBodyBytes) : {}
          if (body.link !== undefined && typeof body.link !== 'boolean') throw new BastionError('bad_request', '"link" must be a boolean.')
          if (body.returnTo !== undefined && typeof body.returnTo !== 'string') throw new BastionError('bad_request', '"returnTo" must be a string.')
          let linkUserId: string | null = null
          if (body.link === true) {
            // Linking needs a live session, proved by a CSRF token bound to it (not a pre-session one).
            const session = binding.kind === 'session' ? await sessions.live(binding.sessionId) : null
            if (!session) throw new BastionError('unauthenticated', 'Sign in first to link a provider to your account.')
            linkUserId = session.userId
          }
          // The callback is a top-level navigation that cannot carry a DPoP proof: the start does, and its key binds the session.
          const dpopJkt = await deviceBinding.bindingFor(request, proofUrl(request, info))
          let started
          try {
            started = await flow.start({
              dpopJkt,
              providerId: provider,
              redirectUri: redirectUri(info, provider),
              returnTo: body.returnTo,
              linkUserId,
              csrfCookie: singleCookie(info, config.cookies.csrf.name)!,
            })
          } catch (e) {
            if (e instanceof OAuthError) {
              config.log({ level: 'warn', event: 'oauth_failed', provider, code: e.code, detail: e.detail, ip: info.clientIp })
              throw new BastionError('unavailable', 'The provider cannot be reached; try again shortly.', { retryAfter: 5 })
            }
            throw e
          }
          const res = json({ redirect: started.redirect })
          setState(res.headers, started.sealed, started.maxAge)
          return res
        },
      },
      {
        method: 'GET',
        path: `${base}/oauth/:provider/callback`,
        async handler(request, info, { provider }) {
          try {
            if (!provider || !flow.provider(provider)) throw new OAuthError('oauth_state', 'unknown provider')
            const result = await flow.callback({
              providerId: provider,
              redirectUri: redirectUri(info, provider),
              query: new URL(request.url).searchParams,
              sealed: singleCookie(info, stateCookie.name),
              csrfCookie: singleCookie(info, config.cookies.csrf.name),
              currentUserId: await currentUserId(info),
            })
            // Never carry a session across a sign-in: whatever session this browser had ends here, and a new id starts.
            const previous = await auth.cookieSessionId(info).catch(() => null)
            if (previous) await sessions.revoke(previous, 'replaced_by_login')
            const started = await sessions.start(result.user, 'cookie', info, { method: `oauth:${provider}`, dpopJkt: result.dpopJkt })
            config.log({ level: 'info', event: 'login', via: 'cookie', method: `oauth:${provider}`, outcome: result.outcome, user: result.user.id, session: started.session.id, ip: info.clientIp })
            const res = seeOther(result.returnTo)
            for (const c of sessions.browserResponse(started, result.user).headers.getSetCookie()) res.headers.append('Set-Cookie', c)
            clearState(res.headers)
            return res
          } catch (e) {
            // A refused request (e.g. two state cookies) is a state failure; a store or bug failure is 'try again'.
            const code: OAuthErrorCode = e instanceof OAuthError ? e.code : e instanceof BastionError ? 'oauth_state' : 'oauth_unavailable'
            const detail = e instanceof OAuthError ? e.detail : e instanceof Error ? `${e.name}: ${e.message}` : String(e)
            const level = e instanceof OAuthError || e instanceof BastionError || e instanceof StoreUnavailableError ? 'warn' : 'error'
            config.log({ level, event: 'oauth_failed', provider: (provider ?? '').slice(0, 32), code, detail, ip: info.clientIp })
            const res = seeOther(`/?auth_error=${code}`)
            clearState(res.headers)
            return res
          }
        },
      },
    )
    return routes
  }
