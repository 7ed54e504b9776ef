import { resolveConfig, type BastionOptions, type ResolvedConfig } from './config.ts'
import type { BastionContext, RouteFamily } from './context.ts'
import { deriveKey } from './crypto/secret.ts'
import { DeviceBinding } from './dpop/binding.ts'
import { BastionError, ConfigError, StoreUnavailableError } from './errors.ts'
import { authenticator, type Identity } from './guards/authenticate.ts'
import { checkOrigin, corsHeaders, preflight } from './guards/origin.ts'
import { memoryRateLimits, RateLimiter } from './guards/rate-limit.ts'
import { requestInfo, type RequestContext, type RequestHead, type RequestInfo } from './guards/request-info.ts'
import { errorResponse } from './http/respond.ts'
import { sessionCookies } from './http/session-cookies.ts'
import { Keyring } from './keys/keyring.ts'
import { PasswordHasher, type Argon2Params, type HashingLimits } from './passwords.ts'
import { createRouter } from './router.ts'
import { gatewayRoutes } from './routes/gateway.ts'
import { jwksRoutes } from './routes/jwks.ts'
import { oauthRoutes } from './routes/oauth.ts'
import { OAuthFlow, type OAuthOptions } from './oauth/flow.ts'
import { passwordRoutes } from './routes/password.ts'
import { refreshRoutes } from './routes/refresh.ts'
import { sessionRoutes } from './routes/session.ts'
import { sessionsRoutes } from './routes/sessions.ts'
import { credentials as makeCredentials } from './services/credentials.ts'
import { publicUser, sessions as makeSessions, type PublicUser } from './services/sessions.ts'
import { normalizeUsername } from './sessions.ts'
import type { RateLimitStore } from './store.ts'
import { AccessCookie } from './tokens/access-cookie.ts'
import { AccessTokens } from './tokens/access-token.ts'
import { RevocationList } from './tokens/revocation-list.ts'
import { headerOf } from './http/header-of.ts'

export type { RequestContext, RequestHead } from './guards/request-info.ts'
export type { Identity } from './guards/authenticate.ts'
export type { PublicUser } from './services/sessions.ts'

export type GuardResult = { ok: true; identity: Identity } | { ok: false; response: Response }

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
  /**
   * For an incident: ends every session and refuses every access token issued
   * before the next whole second, on every instance within the revocation
   * bound (milliseconds with a bus, about 5 s by store poll without), as one
   * write, not one per session. Users sign in again normally. Returns the bound (ms).
   */
  revokeAllSessions(): Promise<number>
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
  /** Sign-in through external providers (OIDC by discovery, or plain OAuth 2). Default: none (`GET /auth/providers` answers an empty list). */
  oauth?: OAuthOptions
}

/** A retired key keeps verifying for the access-token lifetime plus this slack (covers instances yet to reload). */
const KEY_VERIFY_SLACK = 120

/** The route families every Bastion serves; each is one module under `routes/`. */
const CORE_ROUTES: readonly RouteFamily[] = [sessionRoutes, refreshRoutes, sessionsRoutes, passwordRoutes, jwksRoutes, gatewayRoutes]

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
  const { store, now } = config
  const keyReload = options.keyReloadInterval ?? 30
  if (!(keyReload > 0 && keyReload <= 60)) throw new ConfigError('keyReloadInterval must be between 0 and 60 seconds.')
  // Built before anything starts: a bad provider definition stops the start with a ConfigError.
  const oauth = options.oauth ? new OAuthFlow(options.oauth, { store, key: deriveKey(config.secret, 'oauth-state'), now, log: config.log }) : null
  await store.migrate()
  const keyring = new Keyring(store, deriveKey(config.secret, 'key-wrap'), config.algorithm, config.accessTtl + KEY_VERIFY_SLACK, now)
  await keyring.init()
  keyring.startReloading(keyReload * 1000, (e) => config.log({ level: 'error', event: 'key_reload_failed', error: String(e) }))
  const keys = {
    csrf: deriveKey(config.secret, 'csrf'),
    refreshToken: deriveKey(config.secret, 'refresh-generation'),
    refreshSuccessor: deriveKey(config.secret, 'refresh-successor'),
  }
  const cookie = new AccessCookie({ format: config.accessToken.format, secret: config.secret, keys: keyring })
  const access = new AccessTokens(keyring, { issuer: config.issuer, audience: config.audience, ttl: config.accessTtl, now, cookie })
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
  const cookies = sessionCookies(config)
  const auth = authenticator(config, access, revoked, keys.csrf)
  const ctx: BastionContext = {
    config,
    store,
    keyring,
    access,
    auth,
    cookies,
    credentials: makeCredentials(config, store, limiter, hasher),
    sessions: makeSessions(config, store, access, revoked, cookies, keys),
    binding: new DeviceBinding({
      policy: config.deviceBinding.policy,
      replayCache: config.deviceBinding.replayCache,
      maxAgeSeconds: config.deviceBinding.maxAgeSeconds,
      header: config.deviceBinding.header,
      nonceKey: deriveKey(config.secret, 'dpop-nonce'),
      now,
    }),
    keys,
  }
  const router = createRouter([...CORE_ROUTES, oauthRoutes(oauth)].flatMap((family) => family(ctx)))
  const base = config.basePath

  async function guard(request: RequestHead, rctx: RequestContext = {}): Promise<GuardResult> {
    let info: RequestInfo | undefined
    try {
      info = requestInfo(request, rctx, config)
      const bearer = headerOf(request, 'authorization') !== null
      if (info.unsafe && !bearer) checkOrigin(request, info, config)
      const found = auth.authenticate(request, info)
      const identity = found instanceof Promise ? await found : found
      if (info.unsafe && identity.via === 'cookie') auth.checkCsrf(request, info, [{ kind: 'session', sessionId: identity.sessionId }])
      return { ok: true, identity }
    } catch (e) {
      logRefusal(e, request, info)
      return { ok: false, response: decorate(request, toResponse(e)) }
    }
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
    // No SPA origin is allowed: nothing to add, and no header to read.
    if (config.allowedOrigins.size === 0) return {}
    return { ...corsHeaders(request, config), Vary: 'Origin' }
  }

  function decorate(request: RequestHead, response: Response): Response {
    for (const [k, v] of Object.entries(appCorsHeaders(request))) {
      if (k === 'Vary') response.headers.append(k, v)
      else response.headers.set(k, v)
    }
    return response
  }

  const ours = (pathname: string) => pathname.startsWith(`${base}/`) || router.has(pathname)

  async function handle(request: Request, rctx: RequestContext = {}): Promise<Response | null> {
    const pre = preflight(request, config)
    if (pre) return pre
    let path: string
    try {
      path = new URL(request.url).pathname
    } catch {
      return errorResponse(new BastionError('bad_request', 'Malformed request URL.'))
    }
    if (!ours(path)) return null
    const method = request.method === 'HEAD' ? 'GET' : request.method
    const found = router.match(method, path)
    if (found === null) return decorate(request, errorResponse(new BastionError('not_found', `No route ${method} ${path.slice(0, 200)}.`)))
    if (found === 'wrong-method') return decorate(request, errorResponse(new BastionError('not_found', `${path.slice(0, 200)} does not answer ${method}.`)))
    let info: RequestInfo | undefined
    try {
      info = requestInfo(request, rctx, config)
      return decorate(request, await found.handler(request, info, found.params))
    } catch (e) {
      logRefusal(e, request, info)
      return decorate(request, toResponse(e))
    }
  }

  return {
    config,
    handle,
    answers: (method, pathname) => method === 'OPTIONS' || ours(pathname),
    guard,
    decorate,
    corsHeaders: appCorsHeaders,
    rotateKeys: (opts) => keyring.rotate(opts?.activateIn ?? 0),
    revokeAllSessions: () => ctx.sessions.revokeAll(),
    async createUser(username, password) {
      return publicUser(await ctx.credentials.createUser(username, password))
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
