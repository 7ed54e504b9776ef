import { resolveConfig, type BastionOptions, type ResolvedConfig } from './config.ts'
import { safeEqual } from './crypto/encoding.ts'
import { deriveKey } from './crypto/secret.ts'
import { maskToken, mintCsrfToken, unmaskToken, verifyCsrfToken, claimsSession, type CsrfBinding } from './csrf/token.ts'
import { BastionError, ConfigError, StoreConflictError, StoreUnavailableError } from './errors.ts'
import { checkOrigin, corsHeaders, preflight } from './guards/origin.ts'
import { memoryRateLimits, RateLimiter } from './guards/rate-limit.ts'
import { requestInfo, singleCookie, type RequestContext, type RequestHead, type RequestInfo } from './guards/request-info.ts'
import { readJsonObject, stringField } from './http/body.ts'
import { serializeCookie } from './http/cookies.ts'
import { errorResponse, json, noContent } from './http/respond.ts'
import { Keyring } from './keys/keyring.ts'
import { PasswordHasher, type Argon2Params, type HashingLimits } from './passwords.ts'
import {
  hashRefreshToken,
  isValidUsername,
  newRefreshToken,
  newSessionId,
  normalizeUsername,
  refreshTokenSession,
  successorOf,
} from './sessions.ts'
import type { RateLimitRule } from './config.ts'
import type { RateLimitStore, SessionKind, SessionRecord, UserRecord } from './store.ts'
import { AccessTokens, type AccessClaims } from './tokens/access-token.ts'
import { RevocationList } from './tokens/revocation-list.ts'

export type { RequestContext, RequestHead } from './guards/request-info.ts'

/** Who a request is, once authenticated. */
export interface Identity {
  userId: string
  username: string
  sessionId: string
  /** How the request proved it: an HttpOnly cookie (CSRF checked) or an Authorization header. */
  via: 'cookie' | 'bearer'
  claims: AccessClaims
}

export type GuardResult = { ok: true; identity: Identity } | { ok: false; response: Response }

export interface PublicUser {
  id: string
  username: string
  createdAt: string
}

export interface Bastion {
  readonly config: ResolvedConfig
  /**
   * Answers the auth endpoints, the JWKS and CORS preflights; returns null for
   * any other request, which then belongs to the application.
   */
  handle(request: Request, ctx?: RequestContext): Promise<Response | null>
  /**
   * Whether `handle` may answer this method and path (the auth endpoints, the
   * JWKS, a CORS preflight). For any other request it returns null, so
   * adapters need not build a web Request to ask.
   */
  answers(method: string, pathname: string): boolean
  /**
   * Authenticates an application request. For state-changing methods it also
   * runs the Origin / Fetch-Metadata and CSRF checks (cookie mode only).
   */
  guard(request: RequestHead, ctx?: RequestContext): Promise<GuardResult>
  /** Adds the CORS headers an allowed SPA origin needs to any response. */
  decorate(request: RequestHead, response: Response): Response
  /** The CORS headers (and `Vary`) an application response to this request needs; empty for a same-origin request. */
  corsHeaders(request: RequestHead): Record<string, string>
  /**
   * Makes a new signing key; the old one verifies until its tokens expire.
   * With `activateIn` (seconds) the rotation is staged: the new key is in the
   * JWKS at once and signs only after that delay, so every instance (each
   * reloads keys every `keyReloadInterval`) and every JWKS consumer knows it
   * before the first token signed with it arrives. Use it on a cluster.
   */
  rotateKeys(options?: { activateIn?: number }): Promise<string>
  createUser(username: string, password: string): Promise<PublicUser>
  findUser(username: string): Promise<PublicUser | null>
  close(): Promise<void>
}

export interface CreateBastionOptions extends BastionOptions {
  /** Argon2id parameters. Default: OWASP's (19 MiB, t=2, p=1). */
  argon2?: Argon2Params
  /** How many password hashes run at once, and how many may wait. Default: cores − 1 (at least 1), 128 waiting. */
  passwordHashing?: HashingLimits
  /** Seconds between reloads of the signing keys from the store (rotations made elsewhere). Default: 30; at most 60. */
  keyReloadInterval?: number
}

/** A retired key keeps verifying for the access-token lifetime plus this slack (covers instances yet to reload). */
const KEY_VERIFY_SLACK = 120

const CLIENT_ID = { cookie: 'bastion-web', bearer: 'bastion-native' } as const

const publicUser = (u: UserRecord): PublicUser => ({ id: u.id, username: u.username, createdAt: new Date(u.createdAt).toISOString() })

/**
 * Builds the server: validates configuration (throws ConfigError), loads or
 * creates signing keys, and seeds the revocation list.
 *
 * @example
 * ```ts
 * const bastion = await createBastion({ store: sqliteStore({ file: './data/bastion.sqlite' }), secret: process.env.BASTION_SECRET! })
 * const answer = await bastion.handle(request)          // /auth/*, JWKS, preflights; null for anything else
 * const auth = await bastion.guard(request)             // app routes: { ok: true, identity } or { ok: false, response }
 * ```
 */
export async function createBastion(options: CreateBastionOptions): Promise<Bastion> {
  const config = resolveConfig(options)
  const { store, now, cookies } = config
  await store.migrate()
  const keyring = new Keyring(store, deriveKey(config.secret, 'key-wrap'), config.algorithm, config.accessTtl + KEY_VERIFY_SLACK, now)
  await keyring.init()
  const keyReload = options.keyReloadInterval ?? 30
  if (!(keyReload > 0 && keyReload <= 60)) throw new ConfigError('keyReloadInterval must be between 0 and 60 seconds.')
  keyring.startReloading(keyReload * 1000, (e) => config.log({ level: 'error', event: 'key_reload_failed', error: String(e) }))
  const csrfKey = deriveKey(config.secret, 'csrf')
  const successorKey = deriveKey(config.secret, 'refresh-successor')
  const access = new AccessTokens(keyring, { issuer: config.issuer, audience: config.audience, ttl: config.accessTtl, now })
  const revoked = new RevocationList((config.accessTtl + 120) * 1000, now, config.revocationBus)
  await revoked.start(store, (e) => {
    if (e.kind === 'poll_failed') config.log({ level: 'error', event: 'revocation_poll_failed', error: String(e.error) })
    else if (e.kind === 'bus_degraded')
      config.log({ level: 'warn', event: 'revocation_bus_degraded', detail: 'revocations from other instances now arrive by polling the store every 5 s', error: String(e.error ?? 'disconnected') })
    else config.log({ level: 'warn', event: 'revocation_bus_recovered' })
  })
  const sharedLimits = config.rateLimits ?? (store as { rateLimits?: RateLimitStore }).rateLimits
  const limiter = sharedLimits
    ? new RateLimiter(sharedLimits, now, {
        fallback: memoryRateLimits(),
        onStateChange: (state, e) =>
          state === 'degraded'
            ? config.log({ level: 'warn', event: 'rate_limits_degraded', detail: 'shared rate-limit store unavailable; counting per instance', error: String(e) })
            : config.log({ level: 'warn', event: 'rate_limits_recovered', detail: 'shared rate-limit store answers again' }),
      })
    : new RateLimiter(memoryRateLimits(), now)
  const hasher = new PasswordHasher(options.argon2, options.passwordHashing)
  const base = config.basePath

  // ---- cookies -------------------------------------------------------------

  /** Seconds until a session ends, idle or absolute: the life of its refresh and CSRF cookies. */
  const sessionCookieMaxAge = (s: SessionRecord) => (Math.min(s.expiresAt, s.refreshExpiresAt) - now()) / 1000

  const setAccess = (h: Headers, token: string) =>
    h.append('Set-Cookie', serializeCookie(cookies.access, { value: token, maxAge: config.accessTtl, httpOnly: true }))
  const setRefresh = (h: Headers, token: string, session: SessionRecord) =>
    h.append('Set-Cookie', serializeCookie(cookies.refresh, { value: token, maxAge: sessionCookieMaxAge(session), httpOnly: true }))
  const setCsrf = (h: Headers, token: string, maxAge: number) =>
    h.append('Set-Cookie', serializeCookie(cookies.csrf, { value: token, maxAge, httpOnly: false }))
  const clearAll = (h: Headers) => {
    h.append('Set-Cookie', serializeCookie(cookies.access, { value: '', maxAge: 0, httpOnly: true }))
    h.append('Set-Cookie', serializeCookie(cookies.refresh, { value: '', maxAge: 0, httpOnly: true }))
    h.append('Set-Cookie', serializeCookie(cookies.csrf, { value: '', maxAge: 0, httpOnly: false }))
  }
  const unauthenticatedClearing = (message: string): Response => {
    const res = errorResponse(new BastionError('unauthenticated', message))
    clearAll(res.headers)
    return res
  }

  // ---- authentication ------------------------------------------------------

  const identityOf = (claims: AccessClaims, via: Identity['via']): Identity => ({
    userId: claims.sub,
    username: claims.preferred_username,
    sessionId: claims.sid,
    via,
    claims,
  })

  function liveIdentity(claims: AccessClaims, via: Identity['via']): Identity {
    if (revoked.has(claims.sid)) throw new BastionError('unauthenticated', 'The session has been revoked.')
    return identityOf(claims, via)
  }

  /** Synchronous for a token verified before (the hot path: no promise, no microtask); a promise otherwise. */
  function verifyLive(token: string, via: Identity['via']): Identity | Promise<Identity> {
    const hit = access.cached(token)
    if (hit !== undefined && hit !== 'expired') return liveIdentity(hit, via)
    return access.verify(token).then((claims) => liveIdentity(claims, via))
  }

  /** Bearer header, else the access cookie. Throws (or rejects) with the contract's code. */
  function authenticate(request: RequestHead, info: RequestInfo): Identity | Promise<Identity> {
    const authorization = request.headers.get('authorization')
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

  /**
   * Double submit (header equals cookie) and the cookie's MAC bound to one of
   * `bindings`; returns the binding it proved.
   */
  function checkCsrf(request: RequestHead, info: RequestInfo, bindings: CsrfBinding[]): CsrfBinding {
    const header = request.headers.get(config.csrfHeader)
    if (!header) throw new BastionError('csrf_failed', `The ${config.csrfHeader} header is missing.`)
    const cookie = singleCookie(info, cookies.csrf.name)
    if (cookie === undefined) throw new BastionError('csrf_failed', `The ${cookies.csrf.name} cookie is missing; GET ${base}/csrf first.`)
    const presented = header.length <= 512 ? unmaskToken(header) : null
    if (presented === null || !safeEqual(presented, cookie)) {
      throw new BastionError('csrf_failed', `The ${config.csrfHeader} header does not match the ${cookies.csrf.name} cookie.`)
    }
    const proved = bindings.find((b) => verifyCsrfToken(csrfKey, cookie, b))
    if (!proved) throw new BastionError('csrf_failed', 'The CSRF token is not valid for this session.')
    return proved
  }

  async function guard(request: RequestHead, ctx: RequestContext = {}): Promise<GuardResult> {
    let info: RequestInfo | undefined
    try {
      info = requestInfo(request, ctx, config)
      const bearer = request.headers.has('authorization')
      if (info.unsafe && !bearer) checkOrigin(request, info, config)
      const found = authenticate(request, info)
      const identity = found instanceof Promise ? await found : found
      if (info.unsafe && identity.via === 'cookie') checkCsrf(request, info, [{ kind: 'session', sessionId: identity.sessionId }])
      return { ok: true, identity }
    } catch (e) {
      logRefusal(e, request, info)
      return { ok: false, response: decorate(request, toResponse(e)) }
    }
  }

  // ---- sessions ------------------------------------------------------------

  async function startSession(user: UserRecord, kind: SessionKind, info: RequestInfo) {
    const t = now()
    const id = newSessionId()
    const refreshToken = newRefreshToken(id)
    const session = await store.createSession({
      id,
      userId: user.id,
      kind,
      now: t,
      expiresAt: t + config.sessionMaxAge * 1000,
      refreshExpiresAt: Math.min(t + config.refreshTtl * 1000, t + config.sessionMaxAge * 1000),
      userAgent: info.userAgent,
      ip: info.clientIp,
      refreshHash: hashRefreshToken(refreshToken),
    })
    const accessToken = await access.sign({ userId: user.id, username: user.username, sessionId: id, clientId: CLIENT_ID[kind] })
    return { session, refreshToken, accessToken }
  }

  const sessionView = (s: SessionRecord, accessExpiresAt?: number) => ({
    id: s.id,
    createdAt: new Date(s.createdAt).toISOString(),
    lastUsedAt: new Date(s.lastUsedAt).toISOString(),
    expiresAt: new Date(Math.min(s.expiresAt, s.refreshExpiresAt)).toISOString(),
    ...(accessExpiresAt ? { accessExpiresAt: new Date(accessExpiresAt).toISOString() } : {}),
  })

  /** Sets the three browser cookies of a new session and answers its description. */
  function browserSessionResponse(started: Awaited<ReturnType<typeof startSession>>, user: UserRecord): Response {
    const csrf = mintCsrfToken(csrfKey, { kind: 'session', sessionId: started.session.id })
    const res = json({ user: publicUser(user), session: sessionView(started.session, started.accessToken.expiresAt), csrfToken: maskToken(csrf) })
    setAccess(res.headers, started.accessToken.token)
    setRefresh(res.headers, started.refreshToken, started.session)
    setCsrf(res.headers, csrf, sessionCookieMaxAge(started.session))
    return res
  }

  async function revoke(ids: string[]): Promise<void> {
    try {
      await revoked.add(ids)
    } catch (e) {
      // The store already holds the revocation; other instances pick it up at their next poll of the store.
      config.log({ level: 'error', event: 'revocation_broadcast_failed', sessions: ids.length, error: String(e) })
    }
  }

  // ---- credentials ---------------------------------------------------------

  function readCredentials(body: Record<string, unknown>) {
    const username = normalizeUsername(stringField(body, 'username', { max: 256 }))
    const password = stringField(body, 'password', { max: config.password.maxLength })
    return { username, password }
  }

  /** Counts one attempt; a refusal is logged (`rate_limited`, with the limit's scope, never the username tried). */
  async function throttle(scope: 'login_address' | 'login_account' | 'register_address', key: string, rule: RateLimitRule, info: RequestInfo, user?: string): Promise<void> {
    try {
      await limiter.consume(key, rule)
    } catch (e) {
      if (e instanceof BastionError && e.code === 'rate_limited') {
        config.log({ level: 'warn', event: 'rate_limited', scope, ip: info.clientIp, ...(user ? { user } : {}), retryAfter: e.retryAfter })
      }
      throw e
    }
  }

  /** Same work and same answer for an unknown user as for a wrong password. */
  async function checkCredentials(username: string, password: string, info: RequestInfo): Promise<UserRecord> {
    const { loginPerAccount, loginPerAddress } = config.rateLimit
    await throttle('login_address', `login:ip:${info.clientIp}`, loginPerAddress, info)
    // Counted before the verdict, not after: parallel guesses cannot all slip in under the limit.
    await throttle('login_account', `login:user:${username}`, loginPerAccount, info)
    const user = isValidUsername(username) ? await store.findUserByUsername(username) : null
    const ok = await hasher.verify(user?.passwordHash ?? null, password)
    if (!ok || !user) {
      // The account's id when it exists, never the name typed (it may be a password typed in the wrong field).
      config.log({ level: 'warn', event: 'login_failed', reason: user ? 'wrong_password' : 'unknown_user', ...(user ? { user: user.id } : {}), ip: info.clientIp })
      throw new BastionError('invalid_credentials', 'Wrong username or password.')
    }
    await limiter.reset(`login:user:${username}`)
    if (hasher.needsRehash(user.passwordHash)) {
      const passwordHash = await hasher.hash(password)
      await store.setPasswordHash(user.id, passwordHash)
      user.passwordHash = passwordHash
    }
    return user
  }

  function checkNewPassword(password: string, username: string): void {
    if (password.length < config.password.minLength) {
      throw new BastionError('bad_request', `The password must have at least ${config.password.minLength} characters.`)
    }
    if (password.toLowerCase() === username) throw new BastionError('bad_request', 'The password must not be the username.')
  }

  async function createUser(rawUsername: string, password: string): Promise<UserRecord> {
    const username = normalizeUsername(rawUsername)
    if (!isValidUsername(username)) {
      throw new BastionError('bad_request', 'The username must be 3 to 64 characters: letters, digits, ".", "_" or "-", starting with a letter or digit.')
    }
    checkNewPassword(password, username)
    if (password.length > config.password.maxLength) throw new BastionError('bad_request', `The password must have at most ${config.password.maxLength} characters.`)
    const user: UserRecord = { id: crypto.randomUUID(), username, passwordHash: await hasher.hash(password), createdAt: now() }
    try {
      await store.createUser(user)
    } catch (e) {
      if (e instanceof StoreConflictError) throw new BastionError('bad_request', 'That username is not available.')
      throw e
    }
    return user
  }

  /** The session this browser's cookies name: the access token's, else the refresh token's (it outlives the access cookie). */
  async function cookieSessionId(info: RequestInfo): Promise<string | null> {
    const token = singleCookie(info, cookies.access.name)
    const claims = token ? await access.verify(token).catch(() => null) : null
    if (claims) return claims.sid
    const refresh = singleCookie(info, cookies.refresh.name)
    return refresh ? refreshTokenSession(refresh) : null
  }

  /**
   * Bindings a login or register CSRF token may have: the pre-session, or the
   * session the browser is in. A cookie naming a session proves nothing by
   * itself; only a CSRF token whose MAC binds it to that session does.
   */
  async function preSessionBindings(info: RequestInfo): Promise<CsrfBinding[]> {
    const sessionId = await cookieSessionId(info)
    return sessionId ? [{ kind: 'pre' }, { kind: 'session', sessionId }] : [{ kind: 'pre' }]
  }

  /** Whether a session is live in the store (the hot path never asks; these rare endpoints do). */
  async function liveSession(sessionId: string): Promise<SessionRecord | null> {
    const s = await store.findSession(sessionId)
    const t = now()
    return s && s.revokedAt === null && t < s.expiresAt && t < s.refreshExpiresAt ? s : null
  }

  function refuseBrowsers(request: RequestHead): void {
    if (config.bearerRefusesBrowsers && request.headers.has('sec-fetch-site')) {
      throw new BastionError('forbidden_origin', `Bearer tokens are for native clients; a browser signs in with POST ${base}/login and keeps its tokens in HttpOnly cookies.`)
    }
  }

  // ---- routes --------------------------------------------------------------

  type Route = (request: Request, info: RequestInfo, param?: string) => Promise<Response>

  const routes: Record<string, Route> = {
    [`GET ${base}/csrf`]: async (request, info) => {
      // Signed in (even with an expired access cookie): hand out, masked, the live session's token.
      // Otherwise start a pre-session. Never replace a live session's token with a pre-session one.
      let sessionId: string | null = null
      if (request.headers.has('authorization')) {
        sessionId = (await authenticate(request, info)).sessionId
      } else {
        sessionId = await cookieSessionId(info)
      }
      const session = sessionId ? await liveSession(sessionId) : null
      const current = singleCookie(info, cookies.csrf.name)
      if (session) {
        if (current && verifyCsrfToken(csrfKey, current, { kind: 'session', sessionId: session.id })) {
          return json({ csrfToken: maskToken(current) })
        }
        const token = mintCsrfToken(csrfKey, { kind: 'session', sessionId: session.id })
        const res = json({ csrfToken: maskToken(token) })
        setCsrf(res.headers, token, sessionCookieMaxAge(session))
        return res
      }
      if (current && verifyCsrfToken(csrfKey, current, { kind: 'pre' })) return json({ csrfToken: maskToken(current) })
      const token = mintCsrfToken(csrfKey, { kind: 'pre' })
      const res = json({ csrfToken: maskToken(token) })
      setCsrf(res.headers, token, 60 * 60 * 2)
      return res
    },

    [`POST ${base}/register`]: async (request, info) => {
      checkOrigin(request, info, config)
      checkCsrf(request, info, await preSessionBindings(info))
      await throttle('register_address', `register:ip:${info.clientIp}`, config.rateLimit.registerPerAddress, info)
      const body = await readJsonObject(request, config.maxBodyBytes)
      const username = stringField(body, 'username', { max: 256 })
      const password = stringField(body, 'password', { max: config.password.maxLength + 1 })
      const user = await createUser(username, password)
      config.log({ level: 'info', event: 'user_registered', user: user.id, ip: info.clientIp })
      return json({ user: publicUser(user) }, 201)
    },

    [`POST ${base}/login`]: async (request, info) => {
      checkOrigin(request, info, config)
      const previous = checkCsrf(request, info, await preSessionBindings(info))
      const body = await readJsonObject(request, config.maxBodyBytes)
      const { username, password } = readCredentials(body)
      const user = await checkCredentials(username, password, info)
      // Never carry a session across a login: the one this browser proved it holds (by its CSRF MAC) ends here.
      if (previous.kind === 'session') {
        await store.revokeSession(previous.sessionId, 'replaced_by_login', now())
        await revoke([previous.sessionId])
      }
      const started = await startSession(user, 'cookie', info)
      config.log({ level: 'info', event: 'login', via: 'cookie', user: user.id, session: started.session.id, ip: info.clientIp })
      return browserSessionResponse(started, user)
    },

    [`POST ${base}/token`]: async (request, info) => {
      refuseBrowsers(request)
      const body = await readJsonObject(request, config.maxBodyBytes)
      const { username, password } = readCredentials(body)
      const user = await checkCredentials(username, password, info)
      const started = await startSession(user, 'bearer', info)
      config.log({ level: 'info', event: 'login', via: 'bearer', user: user.id, session: started.session.id, ip: info.clientIp })
      return json({ accessToken: started.accessToken.token, refreshToken: started.refreshToken, tokenType: 'Bearer', expiresIn: config.accessTtl })
    },

    [`POST ${base}/refresh`]: async (request, info) => {
      const isJson = /^application\/json/i.test(request.headers.get('content-type') ?? '')
      const body = isJson ? await readJsonObject(request, config.maxBodyBytes) : {}
      const bearerMode = body.refreshToken !== undefined
      let presented: string | undefined
      if (bearerMode) {
        refuseBrowsers(request)
        presented = stringField(body, 'refreshToken', { max: 256 })
      } else {
        checkOrigin(request, info, config)
        presented = singleCookie(info, cookies.refresh.name)
        if (!presented) return unauthenticatedClearing('No refresh token; sign in again.')
      }
      const sessionId = refreshTokenSession(presented)
      if (!sessionId) return bearerMode ? errorResponse(new BastionError('unauthenticated', 'The refresh token is not valid.')) : unauthenticatedClearing('The refresh token is not valid.')
      if (!bearerMode) checkCsrf(request, info, [{ kind: 'session', sessionId }])
      const expectedKind: SessionKind = bearerMode ? 'bearer' : 'cookie'
      // A browser's token presented as a native one (or the reverse) is refused before anything changes.
      const known = await store.findSession(sessionId)
      if (!known || known.kind !== expectedKind) {
        return bearerMode
          ? errorResponse(new BastionError('unauthenticated', 'The refresh token is not valid; sign in again.'))
          : unauthenticatedClearing('The session has ended; sign in again.')
      }
      const t = now()
      const successor = successorOf(successorKey, presented, sessionId)
      const outcome = await store.rotateRefresh({
        presentedHash: hashRefreshToken(presented),
        successorHash: hashRefreshToken(successor),
        now: t,
        graceMs: config.refreshGrace * 1000,
        refreshExpiresAt: (s) => Math.min(s.expiresAt, t + config.refreshTtl * 1000),
      })
      if (outcome.kind === 'reused') {
        await revoke([outcome.session.id])
        config.log({ level: 'warn', event: 'refresh_token_reuse', session: outcome.session.id, user: outcome.session.userId, ip: info.clientIp })
      }
      if (outcome.kind === 'reused' || outcome.kind === 'invalid' || outcome.session.id !== sessionId || outcome.session.kind !== expectedKind) {
        return bearerMode
          ? errorResponse(new BastionError('unauthenticated', 'The refresh token is not valid; sign in again.'))
          : unauthenticatedClearing('The session has ended; sign in again.')
      }
      const user = await store.findUserById(outcome.session.userId)
      if (!user) return unauthenticatedClearing('The account no longer exists.')
      const token = await access.sign({ userId: user.id, username: user.username, sessionId, clientId: CLIENT_ID[expectedKind] })
      config.log({ level: 'info', event: 'refresh', via: expectedKind, user: user.id, session: sessionId, ip: info.clientIp })
      if (bearerMode) {
        return json({ accessToken: token.token, refreshToken: successor, tokenType: 'Bearer', expiresIn: config.accessTtl })
      }
      const csrf = singleCookie(info, cookies.csrf.name)!
      const res = json({ session: sessionView(outcome.session, token.expiresAt), csrfToken: maskToken(csrf) })
      setAccess(res.headers, token.token)
      setRefresh(res.headers, successor, outcome.session)
      // The CSRF cookie lives as long as the session's refresh token does, so it is renewed with it.
      setCsrf(res.headers, csrf, sessionCookieMaxAge(outcome.session))
      return res
    },

    [`POST ${base}/logout`]: async (request, info) => {
      const bearer = request.headers.has('authorization')
      if (bearer) {
        const identity = await authenticate(request, info)
        await store.revokeSession(identity.sessionId, 'logout', now())
        await revoke([identity.sessionId])
        config.log({ level: 'info', event: 'logout', via: 'bearer', user: identity.userId, session: identity.sessionId, ip: info.clientIp })
        return noContent()
      }
      checkOrigin(request, info, config)
      const refresh = singleCookie(info, cookies.refresh.name)
      let sessionId = refresh ? refreshTokenSession(refresh) : null
      if (!sessionId) {
        const token = singleCookie(info, cookies.access.name)
        sessionId = token ? ((await access.verify(token).catch(() => null))?.sid ?? null) : null
      }
      checkCsrf(request, info, sessionId ? [{ kind: 'session', sessionId }] : [{ kind: 'pre' }])
      if (sessionId) {
        // The CSRF MAC proved the browser holds this session's token; the refresh cookie alone is not trusted blindly.
        await store.revokeSession(sessionId, 'logout', now())
        await revoke([sessionId])
        config.log({ level: 'info', event: 'logout', via: 'cookie', session: sessionId, ip: info.clientIp })
      }
      const res = noContent()
      clearAll(res.headers)
      return res
    },

    [`GET ${base}/session`]: async (request, info) => {
      const identity = await authenticate(request, info)
      const [user, session] = await Promise.all([store.findUserById(identity.userId), store.findSession(identity.sessionId)])
      if (!user || !session || session.revokedAt !== null) throw new BastionError('unauthenticated', 'The session has ended.')
      return json({ user: publicUser(user), session: sessionView(session, identity.claims.exp * 1000) })
    },

    [`GET ${base}/sessions`]: async (request, info) => {
      const identity = await authenticate(request, info)
      const sessions = await store.listLiveSessions(identity.userId, now())
      return json({
        sessions: sessions.map((s) => ({ ...sessionView(s), userAgent: s.userAgent, kind: s.kind, current: s.id === identity.sessionId })),
      })
    },

    [`DELETE ${base}/sessions/:id`]: async (request, info, id) => {
      const { identity } = await mustGuard(request, info)
      const target = id ? await store.findSession(id) : null
      if (!target || target.userId !== identity.userId || target.revokedAt !== null) {
        throw new BastionError('not_found', 'No such session.')
      }
      await store.revokeSession(target.id, 'revoked_by_user', now())
      await revoke([target.id])
      config.log({ level: 'info', event: 'session_revoked', user: identity.userId, session: target.id, by: identity.sessionId, ip: info.clientIp })
      const res = noContent()
      if (target.id === identity.sessionId && identity.via === 'cookie') clearAll(res.headers)
      return res
    },

    [`POST ${base}/logout-all`]: async (request, info) => {
      const { identity } = await mustGuard(request, info)
      const ids = await store.revokeUserSessions(identity.userId, 'logout_all', now())
      await revoke([...new Set([...ids, identity.sessionId])])
      config.log({ level: 'info', event: 'logout_all', user: identity.userId, session: identity.sessionId, sessions: ids.length, ip: info.clientIp })
      const res = noContent()
      if (identity.via === 'cookie') clearAll(res.headers)
      return res
    },

    [`POST ${base}/password`]: async (request, info) => {
      const { identity } = await mustGuard(request, info)
      const body = await readJsonObject(request, config.maxBodyBytes)
      const currentPassword = stringField(body, 'currentPassword', { max: config.password.maxLength })
      const newPassword = stringField(body, 'newPassword', { max: config.password.maxLength })
      const user = await checkCredentials(identity.username, currentPassword, info)
      checkNewPassword(newPassword, user.username)
      await store.setPasswordHash(user.id, await hasher.hash(newPassword))
      config.log({ level: 'info', event: 'password_changed', via: identity.via, user: user.id, session: identity.sessionId, ip: info.clientIp })
      if (identity.via === 'bearer') {
        const ids = await store.revokeUserSessions(user.id, 'password_changed', now(), identity.sessionId)
        await revoke(ids)
        return noContent()
      }
      // A browser gets a brand-new session: whatever an attacker held of the old one is worthless.
      const ids = await store.revokeUserSessions(user.id, 'password_changed', now())
      await revoke([...new Set([...ids, identity.sessionId])])
      const started = await startSession(user, 'cookie', info)
      const fresh = browserSessionResponse(started, user)
      const res = noContent()
      for (const c of fresh.headers.getSetCookie()) res.headers.append('Set-Cookie', c)
      return res
    },

    [`GET /.well-known/jwks.json`]: async () => {
      // Rarely fetched (verifiers cache it), and must list a key another instance just made.
      await keyring.reloadIfStale()
      return new Response(JSON.stringify(keyring.jwks()), {
        headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' },
      })
    },
  }

  async function mustGuard(request: RequestHead, info: RequestInfo): Promise<{ identity: Identity }> {
    if (!request.headers.has('authorization')) checkOrigin(request, info, config)
    const identity = await authenticate(request, info)
    if (identity.via === 'cookie') checkCsrf(request, info, [{ kind: 'session', sessionId: identity.sessionId }])
    return { identity }
  }

  const knownPaths = new Set(Object.keys(routes).map((k) => k.split(' ')[1]!))

  function match(method: string, path: string): { route: Route; param?: string } | 'wrong-method' | null {
    const exact = routes[`${method} ${path}`]
    if (exact) return { route: exact }
    const prefix = `${base}/sessions/`
    if (path.startsWith(prefix) && path.length > prefix.length && !path.slice(prefix.length).includes('/')) {
      const route = routes[`${method} ${prefix}:id`]
      let param: string
      try {
        param = decodeURIComponent(path.slice(prefix.length))
      } catch {
        return null
      }
      return route ? { route, param } : 'wrong-method'
    }
    return knownPaths.has(path) ? 'wrong-method' : null
  }

  /** A forged or cross-site state change is an attack indicator: logged (method, path, code, address; no header value). */
  function logRefusal(e: unknown, request: RequestHead, info: RequestInfo | undefined): void {
    if (!(e instanceof BastionError) || (e.code !== 'csrf_failed' && e.code !== 'forbidden_origin')) return
    let path = '?'
    try {
      path = new URL(request.url).pathname.slice(0, 200)
    } catch {}
    config.log({ level: 'warn', event: 'request_refused', code: e.code, method: request.method.slice(0, 16), path, ip: info?.clientIp ?? 'unknown' })
  }

  function toResponse(e: unknown): Response {
    if (e instanceof BastionError) return errorResponse(e)
    if (e instanceof StoreUnavailableError) {
      return errorResponse(new BastionError('unavailable', 'The session store is unavailable; try again shortly.', { retryAfter: 5 }))
    }
    config.log({ level: 'error', event: 'unexpected_error', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
    // Fail closed without leaking internals.
    return errorResponse(new BastionError('unavailable', 'The request could not be completed; try again.', { retryAfter: 1 }))
  }

  function appCorsHeaders(request: RequestHead): Record<string, string> {
    const cors = corsHeaders(request, config) ?? {}
    return config.allowedOrigins.size > 0 ? { ...cors, Vary: 'Origin' } : cors
  }

  function decorate(request: RequestHead, response: Response): Response {
    for (const [k, v] of Object.entries(appCorsHeaders(request))) {
      if (k === 'Vary') response.headers.append(k, v)
      else response.headers.set(k, v)
    }
    return response
  }

  function answers(method: string, pathname: string): boolean {
    return method === 'OPTIONS' || pathname === '/.well-known/jwks.json' || pathname.startsWith(`${base}/`)
  }

  async function handle(request: Request, ctx: RequestContext = {}): Promise<Response | null> {
    const pre = preflight(request, config)
    if (pre) return pre
    let path: string
    try {
      path = new URL(request.url).pathname
    } catch {
      return errorResponse(new BastionError('bad_request', 'Malformed request URL.'))
    }
    if (!path.startsWith(`${base}/`) && path !== '/.well-known/jwks.json') return null
    const method = request.method === 'HEAD' ? 'GET' : request.method
    const found = match(method, path)
    if (found === null) return decorate(request, errorResponse(new BastionError('not_found', `No route ${method} ${path.slice(0, 200)}.`)))
    if (found === 'wrong-method') return decorate(request, errorResponse(new BastionError('not_found', `${path.slice(0, 200)} does not answer ${method}.`)))
    let info: RequestInfo | undefined
    try {
      info = requestInfo(request, ctx, config)
      return decorate(request, await found.route(request, info, found.param))
    } catch (e) {
      logRefusal(e, request, info)
      return decorate(request, toResponse(e))
    }
  }

  return {
    config,
    handle,
    answers,
    guard,
    decorate,
    corsHeaders: appCorsHeaders,
    rotateKeys: (options) => keyring.rotate(options?.activateIn ?? 0),
    async createUser(username, password) {
      return publicUser(await createUser(username, password))
    },
    async findUser(username) {
      const u = await store.findUserByUsername(normalizeUsername(username))
      return u ? publicUser(u) : null
    },
    async close() {
      keyring.stop()
      await revoked.stop()
    },
  }
}
