import type { ResolvedConfig } from '../config.ts'
import { safeEqual } from '../crypto/encoding.ts'
import { claimsSession, unmaskToken, verifyCsrfToken, type CsrfBinding } from '../csrf/token.ts'
import { BastionError } from '../errors.ts'
import { refreshTokenSession } from '../sessions.ts'
import type { AccessClaims, AccessTokens } from '../tokens/access-token.ts'
import type { RevocationList } from '../tokens/revocation-list.ts'
import { checkOrigin } from './origin.ts'
import { singleCookie, type RequestHead, type RequestInfo } from './request-info.ts'
import { headerOf } from '../http/header-of.ts'

/** Who a request is, once authenticated. */
export interface Identity {
  userId: string
  username: string
  sessionId: string
  /** How the request proved it: an HttpOnly cookie (CSRF checked) or an Authorization header. */
  via: 'cookie' | 'bearer'
  claims: AccessClaims
}

/** Everything that decides who a request is and whether it may change state. */
export interface Authenticator {
  /** Bearer header, else the access cookie. Synchronous for a token verified before (the hot path); throws or rejects with the contract's code. */
  authenticate(request: RequestHead, info: RequestInfo): Identity | Promise<Identity>
  /** Double submit (header equals cookie) and the cookie's MAC bound to one of `bindings`; returns the binding it proved. */
  checkCsrf(request: RequestHead, info: RequestInfo, bindings: CsrfBinding[]): CsrfBinding
  /** A state-changing auth endpoint: Origin / Fetch-Metadata (cookies only), authentication, CSRF bound to the session (cookies only). */
  authenticateUnsafe(request: RequestHead, info: RequestInfo): Promise<Identity>
  /** The session this browser's cookies name: the access token's, else the refresh token's (it outlives the access cookie). */
  cookieSessionId(info: RequestInfo): Promise<string | null>
  /**
   * Bindings a login or register CSRF token may have: the pre-session, or the
   * session the browser is in. A cookie naming a session proves nothing by
   * itself; only a CSRF token whose MAC binds it to that session does.
   */
  preSessionBindings(info: RequestInfo): Promise<CsrfBinding[]>
  /** Bearer-token endpoints are for native clients: a browser (it sends Sec-Fetch-*) is refused when configured so. */
  refuseBrowsers(request: RequestHead): void
}

export function authenticator(config: ResolvedConfig, access: AccessTokens, revoked: RevocationList, csrfKey: Uint8Array): Authenticator {
  const { cookies } = config

  function liveIdentity(claims: AccessClaims, via: Identity['via']): Identity {
    if (revoked.has(claims.sid) || revoked.issuedBeforeRevokeAll(claims.iat)) throw new BastionError('unauthenticated', 'The session has been revoked.')
    return { userId: claims.sub, username: claims.preferred_username, sessionId: claims.sid, via, claims }
  }

  /** Synchronous for a token verified before (the hot path: no promise, no microtask); a promise otherwise. */
  function verifyLive(token: string, via: Identity['via']): Identity | Promise<Identity> {
    const hit = access.cached(token)
    if (hit !== undefined && hit !== 'expired') return liveIdentity(hit, via)
    // The cookie may be a JWE around the token (format `jwe`); a bearer token is always the JWS itself.
    return (via === 'cookie' ? access.verifyCookie(token) : access.verify(token)).then((claims) => liveIdentity(claims, via))
  }

  /** A failed bearer request says so in `WWW-Authenticate` (RFC 6750). */
  async function authenticateBearer(authorization: string): Promise<Identity> {
    const m = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(authorization)
    try {
      if (!m) throw new BastionError('unauthenticated', 'Authorization must be "Bearer <token>".')
      return await verifyLive(m[1]!, 'bearer')
    } catch (e) {
      if (!(e instanceof BastionError)) throw e
      const description = e.code === 'token_expired' ? ', error_description="The access token expired"' : ''
      throw new BastionError(e.code, e.message, { headers: { 'WWW-Authenticate': `Bearer error="invalid_token"${description}` } })
    }
  }

  function authenticate(request: RequestHead, info: RequestInfo): Identity | Promise<Identity> {
    const authorization = headerOf(request, 'authorization')
    if (authorization !== null) return authenticateBearer(authorization)
    const token = singleCookie(info, cookies.access.name)
    if (token === undefined) {
      // The access cookie lives as long as its token; when it is gone but the CSRF cookie
      // says a session exists, the browser should refresh rather than sign in again.
      const csrf = singleCookie(info, cookies.csrf.name)
      if (csrf !== undefined && claimsSession(csrf)) throw new BastionError('token_expired', 'The access token has expired; refresh.')
      throw new BastionError('unauthenticated', 'Sign in first.')
    }
    return verifyLive(token, 'cookie')
  }

  function checkCsrf(request: RequestHead, info: RequestInfo, bindings: CsrfBinding[]): CsrfBinding {
    const header = headerOf(request, config.csrfHeader)
    if (!header) throw new BastionError('csrf_failed', `The ${config.csrfHeader} header is missing.`)
    const cookie = singleCookie(info, cookies.csrf.name)
    if (cookie === undefined) throw new BastionError('csrf_failed', `The ${cookies.csrf.name} cookie is missing; GET ${config.basePath}/csrf first.`)
    const presented = header.length <= 512 ? unmaskToken(header) : null
    if (presented === null || !safeEqual(presented, cookie)) {
      throw new BastionError('csrf_failed', `The ${config.csrfHeader} header does not match the ${cookies.csrf.name} cookie.`)
    }
    const proved = bindings.find((b) => verifyCsrfToken(csrfKey, cookie, b))
    if (!proved) throw new BastionError('csrf_failed', 'The CSRF token is not valid for this session.')
    return proved
  }

  async function cookieSessionId(info: RequestInfo): Promise<string | null> {
    const token = singleCookie(info, cookies.access.name)
    const claims = token ? await access.verifyCookie(token).catch(() => null) : null
    if (claims) return claims.sid
    const refresh = singleCookie(info, cookies.refresh.name)
    return refresh ? refreshTokenSession(refresh) : null
  }

  return {
    authenticate,
    checkCsrf,
    async authenticateUnsafe(request, info) {
      if (headerOf(request, 'authorization') === null) checkOrigin(request, info, config)
      const identity = await authenticate(request, info)
      if (identity.via === 'cookie') checkCsrf(request, info, [{ kind: 'session', sessionId: identity.sessionId }])
      return identity
    },
    cookieSessionId,
    async preSessionBindings(info) {
      const sessionId = await cookieSessionId(info)
      return sessionId ? [{ kind: 'pre' }, { kind: 'session', sessionId }] : [{ kind: 'pre' }]
    },
    refuseBrowsers(request) {
      if (config.bearerRefusesBrowsers && headerOf(request, 'sec-fetch-site') !== null) {
        throw new BastionError('forbidden_origin', `Bearer tokens are for native clients; a browser signs in with POST ${config.basePath}/login and keeps its tokens in HttpOnly cookies.`)
      }
    },
  }
}
