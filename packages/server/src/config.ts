import { parseHttpUrl } from './http/http-url.ts'
import { ConfigError } from './errors.ts'
import { DEVICE_BINDING_POLICIES, type DeviceBindingPolicy } from './dpop/binding.ts'
import type { ReplayCache } from './dpop/replay-cache.ts'
import type { RateLimitStore, RevocationBus, Store } from './store.ts'

export type SameSite = 'Strict' | 'Lax' | 'None'

export interface CookieOptions {
  /** Cookie name. A `__Host-` name requires `Secure`, `Path=/` and no `Domain`. */
  name: string
  sameSite: SameSite
  path: string
  /** Only for non-`__Host-` cookies; leave unset to keep the cookie host-only. */
  domain?: string
}

export interface RateLimitRule {
  /** Attempts allowed in one window. */
  max: number
  windowSeconds: number
}

export interface BastionOptions {
  store: Store
  /** Where rate-limit counters live; defaults to the store's own (shared by instances on the same store). */
  rateLimits?: RateLimitStore
  /** Carries revocations to other instances; defaults to this process only. */
  revocationBus?: RevocationBus
  /**
   * Server secret (≥ 32 characters) from which the CSRF, refresh and key-wrap
   * keys are derived. Required when `production` is true.
   */
  secret: string
  /** Refuses generated secrets and plain-HTTP public origins other than localhost. Default: `NODE_ENV === 'production'`. */
  production?: boolean
  /**
   * The origin browsers use to reach this server, e.g. `https://app.example.com`.
   * Default: taken from each request (Host header, or X-Forwarded-* when `trustProxy`).
   */
  publicOrigin?: string
  /** SPA origins allowed to call with credentials (CORS). Never reflected: only these. Default: none. */
  allowedOrigins?: string[]
  /** Trust `X-Forwarded-Proto`, `-Host` and `-For` from one proxy in front. Default: false. */
  trustProxy?: boolean
  /** Access-token lifetime in seconds. Default: 300. */
  accessTtl?: number
  /** Refresh-token lifetime in seconds (idle timeout: unused this long, the session ends). Default: 1209600 (14 days). */
  refreshTtl?: number
  /** Absolute session lifetime in seconds, whatever its activity. Default: 2592000 (30 days). */
  sessionMaxAge?: number
  /** Seconds during which the previous refresh token still yields the same successor. Default: 10. */
  refreshGrace?: number
  /** JWT `iss`. Default: `publicOrigin`, else `'bastion'`. */
  issuer?: string
  /** JWT `aud`. Default: the issuer. */
  audience?: string
  /** Signing algorithm for new keys: `'EdDSA'` (Ed25519) or `'ES256'`. Default: `'EdDSA'`. */
  algorithm?: 'EdDSA' | 'ES256'
  /** Path prefix of the auth endpoints. Default: `/auth`. */
  basePath?: string
  cookies?: {
    access?: Partial<CookieOptions>
    refresh?: Partial<CookieOptions>
    csrf?: Partial<CookieOptions>
  }
  /** Header carrying the CSRF token. Default: `X-CSRF-Token`. */
  csrfHeader?: string
  /** Largest accepted JSON body, in bytes. Default: 16384. */
  maxBodyBytes?: number
  password?: {
    minLength?: number
    maxLength?: number
  }
  rateLimit?: {
    /** Failed logins per account. Default: 10 per 15 minutes. */
    loginPerAccount?: RateLimitRule
    /** Login attempts per client address. Default: 100 per 15 minutes. */
    loginPerAddress?: RateLimitRule
    /** Registrations per client address. Default: 20 per hour. */
    registerPerAddress?: RateLimitRule
  }
  /** `POST /auth/token` refuses requests that carry `Sec-Fetch-*` (browsers use cookies). Default: true. */
  bearerRefusesBrowsers?: boolean
  /** What the access cookie holds (see "Encrypted cookie" in the README). */
  accessToken?: {
    /**
     * `'jws'`: the signed access JWT itself, readable by whoever sees the cookie and verifiable through the JWKS.
     * `'jwe'`: that JWT nested in a JWE (`dir`, `A256GCM`, key derived from `secret` per signing key), so the
     * browser, extensions and logs see no claims. Bearer tokens (`POST /auth/token`, the gateway's) stay signed JWTs.
     * Default: `'jws'`.
     */
    format?: 'jws' | 'jwe'
  }
  /** Existing APIs put behind Bastion (backend for frontend), each under its own path prefix. Default: none. */
  gateway?: GatewayOptions | GatewayOptions[]
  /**
   * Device-bound sessions (DPoP proofs, RFC 9449): a policy, or the policy with
   * its parts. Default `'when-offered'`: a session is bound to the device key
   * the client proves at its start; a refresh of a bound session needs a proof
   * by that key. `'required'`: no session without one. `'off'`: proofs ignored.
   */
  deviceBinding?: DeviceBindingPolicy | DeviceBindingConfig
  /** Clock, for tests. */
  now?: () => number
  /** Structured log sink for security events (never receives tokens). */
  log?: (event: LogEvent) => void
}

export interface DeviceBindingConfig {
  /** Default `'when-offered'`. */
  policy?: DeviceBindingPolicy
  /** Where used proof ids are remembered. Default: this process (bounded); `redisReplayCache` shares it between instances. */
  replayCache?: ReplayCache
  /** How far a proof's `iat` may be from the server clock, seconds. Default 60 (at most 300). */
  maxAgeSeconds?: number
  /** Request header carrying the proof. Default `DPoP`. */
  header?: string
}

/**
 * One upstream API behind Bastion: a request to `prefix + /x?y` is
 * authenticated (access cookie, and CSRF, Origin and Sec-Fetch-Site when it
 * changes state, exactly as Bastion's own routes) and sent to
 * `upstream + /x?y` with `Authorization: Bearer <JWT for audience>` instead
 * of the browser's cookies.
 */
export interface GatewayOptions {
  /** The upstream's base URL, e.g. `http://127.0.0.1:8000` (a path is kept as a base: `http://api/v1`). Required. */
  upstream: string
  /** Path prefix under which the upstream is reached. Default: `/gateway`. */
  prefix?: string
  /** `aud` of the tokens forwarded upstream. Default: the upstream's origin. Must differ from Bastion's own `audience`. */
  audience?: string
  /** Largest request body passed on, in bytes; larger answers `413 payload_too_large`. Default: 10485760 (10 MiB). */
  maxBodyBytes?: number
  /** Milliseconds the upstream has to start answering (and between two chunks of its body); then `504 upstream_timeout`. Default: 30000. */
  timeoutMs?: number
  /** Lifetime of a forwarded token in seconds, at most 60 (and never past the browser's access token). Default: 60. */
  tokenTtl?: number
}

export interface ResolvedGateway {
  upstream: URL
  prefix: string
  audience: string
  maxBodyBytes: number
  timeoutMs: number
  tokenTtl: number
}

/**
 * One audit or operational event: flat, JSON-serializable, and never holding
 * a secret (no password, token, cookie or CSRF value; no username typed at a
 * failed login, which may be a password typed in the wrong field). Users and
 * sessions appear by id (`user`, `session`); `ip` is the client address as
 * `trustProxy` resolves it. Add a timestamp in the sink.
 *
 * | event | level | fields |
 * |---|---|---|
 * | `login` | info | `via` (`cookie` or `bearer`), `user`, `session`, `ip`, `bound` (the session is bound to a device key) |
 * | `login` (provider) | info | `via` `cookie`, `method` (`oauth:<id>`), `outcome` (`signed_in`, `created`, `linked`), `user`, `session`, `ip` |
 * | `oauth_failed` | warn | `provider`, `code` (the `auth_error`), `detail` (why, from the checks; never a token), `ip` |
 * | `login_failed` | warn | `reason` (`wrong_password` or `unknown_user`), `user` (when the account exists), `ip` |
 * | `rate_limited` | warn | `scope` (`login_address`, `login_account`, `register_address`), `ip`, `retryAfter` |
 * | `user_registered` | info | `user`, `ip` |
 * | `refresh` | info | `via`, `user`, `session`, `ip` |
 * | `refresh_token_reuse` | warn | `user`, `session` (now revoked), `ip` |
 * | `refresh_token_invalid` | warn | `session` (the id the token named; nothing changed), `ip` |
 * | `revoked_all` | warn | `notBefore` (every session and access token issued before it is out) |
 * | `refresh_without_proof` | warn | `user`, `session` (now revoked), `reason` (`missing`, `wrong_key`, `replayed`, …), `ip` |
 * | `logout` | info | `via`, `session`, `user` (bearer), `ip` |
 * | `logout_all` | info | `user`, `session` (the caller's), `sessions` (count revoked), `ip` |
 * | `session_revoked` | info | `user`, `session` (the revoked one), `by` (the caller's session), `ip` |
 * | `password_changed` | info | `via`, `user`, `session`, `ip` |
 * | `gateway_cookie_dropped` | warn | `prefix`, `cookie` (the name an upstream tried to set) |
 * | `request_refused` | warn | `code` (`csrf_failed` or `forbidden_origin`), `method`, `path`, `ip` |
 * | `unexpected_error` | error | `error` (name and message; answered 503) |
 * | `key_reload_failed`, `revocation_poll_failed`, `revocation_broadcast_failed` | error | `error` |
 * | `revocation_bus_degraded` / `_recovered`, `rate_limits_degraded` / `_recovered` | warn | `detail`, `error` |
 */
export interface LogEvent {
  level: 'info' | 'warn' | 'error'
  event: string
  [key: string]: unknown
}

export interface ResolvedCookies {
  access: CookieOptions
  refresh: CookieOptions
  csrf: CookieOptions
}

export interface ResolvedConfig {
  store: Store
  rateLimits: RateLimitStore | undefined
  revocationBus: RevocationBus | undefined
  secret: string
  production: boolean
  publicOrigin: string | undefined
  allowedOrigins: ReadonlySet<string>
  trustProxy: boolean
  accessTtl: number
  refreshTtl: number
  sessionMaxAge: number
  refreshGrace: number
  issuer: string
  audience: string
  algorithm: 'EdDSA' | 'ES256'
  basePath: string
  cookies: ResolvedCookies
  csrfHeader: string
  maxBodyBytes: number
  password: { minLength: number; maxLength: number }
  rateLimit: { loginPerAccount: RateLimitRule; loginPerAddress: RateLimitRule; registerPerAddress: RateLimitRule }
  bearerRefusesBrowsers: boolean
  accessToken: { format: 'jws' | 'jwe' }
  gateways: ResolvedGateway[]
  deviceBinding: { policy: DeviceBindingPolicy; replayCache: ReplayCache | undefined; maxAgeSeconds: number; header: string }
  now: () => number
  log: (event: LogEvent) => void
}

const DEFAULT_COOKIES: ResolvedCookies = {
  access: { name: '__Host-access', sameSite: 'Lax', path: '/' },
  refresh: { name: '__Secure-refresh', sameSite: 'Strict', path: '/auth' },
  csrf: { name: '__Host-csrf', sameSite: 'Lax', path: '/' },
}

/** Parses an origin strictly: scheme, host and optional port, nothing else. */
export function parseOrigin(value: string): URL | null {
  const url = parseHttpUrl(value)
  if (!url) return null
  // WHATWG URL accepts `*` in a host; an allow-list entry with a wildcard would silently never match.
  if (url.hostname.includes('*')) return null
  if (url.origin !== value.replace(/\/$/, '')) return null
  return url
}

export const isLoopbackHost = (hostname: string): boolean =>
  hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '127.0.0.1' || hostname === '[::1]'

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number of seconds, got ${value}.`)
  return value
}

function resolveCookie(kind: keyof ResolvedCookies, given: Partial<CookieOptions> | undefined, basePath: string): CookieOptions {
  const base = DEFAULT_COOKIES[kind]
  const cookie: CookieOptions = {
    ...base,
    ...(kind === 'refresh' ? { path: basePath } : {}),
    ...given,
  }
  const where = `cookies.${kind} (${cookie.name})`
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie.name)) {
    throw new ConfigError(`${where}: the name is not a valid cookie name.`)
  }
  if (cookie.name.startsWith('__Host-')) {
    if (cookie.domain !== undefined) {
      throw new ConfigError(`${where}: a __Host- cookie cannot have a Domain (browsers reject it). Remove the domain, or rename the cookie to __Secure-…`)
    }
    if (cookie.path !== '/') {
      throw new ConfigError(`${where}: a __Host- cookie must have Path=/ (browsers reject it otherwise). Set path '/' or rename the cookie.`)
    }
  }
  if (!['Strict', 'Lax', 'None'].includes(cookie.sameSite)) {
    throw new ConfigError(`${where}: sameSite must be 'Strict', 'Lax' or 'None'.`)
  }
  if (!cookie.path.startsWith('/')) throw new ConfigError(`${where}: path must start with '/'.`)
  return cookie
}

/**
 * Validates options once, at start. Anything a browser would silently reject,
 * or that would open a hole, throws a ConfigError that says what to do.
 */
export function resolveConfig(options: BastionOptions): ResolvedConfig {
  if (!options.store) throw new ConfigError('store is required, e.g. sqliteStore({ file: "./data/bastion.sqlite" }).')
  const production = options.production ?? process.env.NODE_ENV === 'production'
  if (typeof options.secret !== 'string' || options.secret.length < 32) {
    throw new ConfigError(
      'secret must be at least 32 characters (set BASTION_SECRET, e.g. `openssl rand -base64 48`). It keys CSRF tokens, refresh-token successors and the encryption of signing keys at rest.',
    )
  }
  let publicOrigin: string | undefined
  if (options.publicOrigin !== undefined && options.publicOrigin !== '') {
    const url = parseOrigin(options.publicOrigin)
    if (!url) {
      throw new ConfigError(`publicOrigin "${options.publicOrigin}" is not an origin (scheme://host[:port], no path), e.g. https://app.example.com.`)
    }
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      throw new ConfigError(
        `publicOrigin "${options.publicOrigin}" is plain HTTP on a host that is not localhost: browsers drop Secure and __Host- cookies there. Serve it over HTTPS (a TLS proxy in front, with BASTION_PUBLIC_ORIGIN=https://… and BASTION_TRUST_PROXY=1).`,
      )
    }
    publicOrigin = url.origin
  }
  const allowedOrigins = new Set<string>()
  for (const origin of options.allowedOrigins ?? []) {
    const url = parseOrigin(origin.trim())
    if (!url) {
      throw new ConfigError(`allowedOrigins: "${origin}" is not an origin (scheme://host[:port], no path, no wildcard).`)
    }
    if (production && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      throw new ConfigError(`allowedOrigins: "${origin}" is plain HTTP; in production only HTTPS origins can be trusted.`)
    }
    allowedOrigins.add(url.origin)
  }
  const basePath = (options.basePath ?? '/auth').replace(/\/$/, '')
  if (!basePath.startsWith('/')) throw new ConfigError('basePath must start with "/".')
  const cookies: ResolvedCookies = {
    access: resolveCookie('access', options.cookies?.access, basePath),
    refresh: resolveCookie('refresh', options.cookies?.refresh, basePath),
    csrf: resolveCookie('csrf', options.cookies?.csrf, basePath),
  }
  const names = new Set([cookies.access.name, cookies.refresh.name, cookies.csrf.name])
  if (names.size !== 3) throw new ConfigError('cookies: the access, refresh and csrf cookies need three different names.')
  if (cookies.refresh.sameSite === 'None' || cookies.access.sameSite === 'None') {
    // Secure is always set, so None is legal, but it re-opens cross-site sends that only the CSRF token then stops.
    if (production) throw new ConfigError('cookies: SameSite=None on an authenticating cookie is refused in production; use Lax or Strict.')
  }
  const accessTtl = positive('accessTtl', options.accessTtl ?? 300)
  const refreshTtl = positive('refreshTtl', options.refreshTtl ?? 1_209_600)
  const sessionMaxAge = positive('sessionMaxAge', options.sessionMaxAge ?? 2_592_000)
  const refreshGrace = options.refreshGrace ?? 10
  if (!Number.isFinite(refreshGrace) || refreshGrace < 0 || refreshGrace > 300) {
    throw new ConfigError('refreshGrace must be between 0 and 300 seconds.')
  }
  if (accessTtl > refreshTtl) throw new ConfigError('accessTtl must not exceed refreshTtl.')
  const algorithm = options.algorithm ?? 'EdDSA'
  if (algorithm !== 'EdDSA' && algorithm !== 'ES256') throw new ConfigError(`algorithm must be 'EdDSA' or 'ES256', got ${String(algorithm)}.`)
  const csrfHeader = options.csrfHeader ?? 'X-CSRF-Token'
  if (!/^[A-Za-z0-9-]+$/.test(csrfHeader)) throw new ConfigError('csrfHeader must be a header name.')
  const minLength = options.password?.minLength ?? 10
  const maxLength = options.password?.maxLength ?? 256
  if (minLength < 8 || maxLength < minLength || maxLength > 4096) {
    throw new ConfigError('password: minLength must be at least 8 and maxLength between minLength and 4096.')
  }
  const issuer = options.issuer ?? publicOrigin ?? 'bastion'
  const binding = typeof options.deviceBinding === 'string' ? { policy: options.deviceBinding } : (options.deviceBinding ?? {})
  const bindingPolicy = binding.policy ?? 'when-offered'
  if (!DEVICE_BINDING_POLICIES.includes(bindingPolicy)) {
    throw new ConfigError(`deviceBinding must be ${DEVICE_BINDING_POLICIES.map((p) => `'${p}'`).join(', ')}; got ${String(bindingPolicy)}.`)
  }
  const dpopMaxAge = binding.maxAgeSeconds ?? 60
  if (!Number.isFinite(dpopMaxAge) || dpopMaxAge < 5 || dpopMaxAge > 300) throw new ConfigError('deviceBinding.maxAgeSeconds must be between 5 and 300.')
  const dpopHeader = binding.header ?? 'DPoP'
  if (!/^[A-Za-z0-9-]+$/.test(dpopHeader)) throw new ConfigError('deviceBinding.header must be a header name.')
  return {
    store: options.store,
    rateLimits: options.rateLimits,
    revocationBus: options.revocationBus,
    secret: options.secret,
    production,
    publicOrigin,
    allowedOrigins,
    trustProxy: options.trustProxy ?? false,
    accessTtl,
    refreshTtl,
    sessionMaxAge,
    refreshGrace,
    issuer,
    audience: options.audience ?? issuer,
    algorithm,
    basePath,
    cookies,
    csrfHeader,
    maxBodyBytes: options.maxBodyBytes ?? 16_384,
    password: { minLength, maxLength },
    rateLimit: {
      loginPerAccount: options.rateLimit?.loginPerAccount ?? { max: 10, windowSeconds: 900 },
      loginPerAddress: options.rateLimit?.loginPerAddress ?? { max: 100, windowSeconds: 900 },
      registerPerAddress: options.rateLimit?.registerPerAddress ?? { max: 20, windowSeconds: 3600 },
    },
    bearerRefusesBrowsers: options.bearerRefusesBrowsers ?? true,
    accessToken: { format: resolveAccessFormat(options.accessToken?.format) },
    gateways: resolveGateways(options.gateway, { basePath, audience: options.audience ?? issuer }),
    deviceBinding: { policy: bindingPolicy, replayCache: binding.replayCache, maxAgeSeconds: dpopMaxAge, header: dpopHeader },
    now: options.now ?? Date.now,
    log: options.log ?? (() => {}),
  }
}

function resolveAccessFormat(format: unknown): 'jws' | 'jwe' {
  if (format === undefined) return 'jws'
  if (format !== 'jws' && format !== 'jwe') throw new ConfigError(`accessToken.format must be 'jws' or 'jwe', got ${String(format)}.`)
  return format
}

const MAX_GATEWAY_TIMEOUT_MS = 600_000

function resolveGateways(given: GatewayOptions | GatewayOptions[] | undefined, own: { basePath: string; audience: string }): ResolvedGateway[] {
  const list = given === undefined ? [] : Array.isArray(given) ? given : [given]
  const resolved = list.map((g, i): ResolvedGateway => {
    const where = list.length > 1 ? `gateway[${i}]` : 'gateway'
    let upstream: URL
    try {
      upstream = new URL(g.upstream)
    } catch {
      throw new ConfigError(`${where}.upstream "${String(g.upstream)}" is not a URL, e.g. http://127.0.0.1:8000.`)
    }
    if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new ConfigError(`${where}.upstream must be http:// or https://.`)
    if (upstream.username || upstream.password || upstream.search || upstream.hash) {
      throw new ConfigError(`${where}.upstream must be a base URL without credentials, query or fragment.`)
    }
    const prefix = (g.prefix ?? '/gateway').replace(/\/$/, '')
    if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix)) throw new ConfigError(`${where}.prefix "${String(g.prefix)}" must be a path like /gateway (not /).`)
    const under = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`)
    if (under(prefix, own.basePath) || under(prefix, '/.well-known')) {
      throw new ConfigError(`${where}.prefix ${prefix} overlaps Bastion's own paths (${own.basePath}, /.well-known).`)
    }
    const audience = g.audience ?? upstream.origin
    if (typeof audience !== 'string' || audience === '') throw new ConfigError(`${where}.audience must be a non-empty string.`)
    if (audience === own.audience) {
      // The upstream could otherwise replay what it receives to Bastion (or to another upstream) as a user's own token.
      throw new ConfigError(`${where}.audience must differ from Bastion's own audience (${own.audience}).`)
    }
    const maxBodyBytes = g.maxBodyBytes ?? 10 * 1024 * 1024
    if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) throw new ConfigError(`${where}.maxBodyBytes must be a whole number of bytes.`)
    const timeoutMs = g.timeoutMs ?? 30_000
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_GATEWAY_TIMEOUT_MS) {
      throw new ConfigError(`${where}.timeoutMs must be between 1 and ${MAX_GATEWAY_TIMEOUT_MS} milliseconds.`)
    }
    const tokenTtl = g.tokenTtl ?? 60
    if (!Number.isFinite(tokenTtl) || tokenTtl < 1 || tokenTtl > 60) throw new ConfigError(`${where}.tokenTtl must be between 1 and 60 seconds.`)
    return { upstream, prefix, audience, maxBodyBytes, timeoutMs, tokenTtl }
  })
  const prefixes = resolved.map((g) => g.prefix)
  for (const [i, p] of prefixes.entries()) {
    for (const q of prefixes.slice(i + 1)) {
      if (p === q || p.startsWith(`${q}/`) || q.startsWith(`${p}/`)) throw new ConfigError(`gateway: the prefixes ${p} and ${q} overlap.`)
    }
  }
  const audiences = resolved.map((g) => g.audience)
  if (new Set(audiences).size !== audiences.length) {
    // A token minted for one upstream would be accepted by the other.
    throw new ConfigError('gateway: two upstreams share an audience; give each its own.')
  }
  return resolved
}
