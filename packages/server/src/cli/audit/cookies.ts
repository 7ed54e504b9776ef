/**
 * Cookie attributes and prefixes of every Set-Cookie the audit received:
 * HttpOnly on the cookies that authenticate, Secure, SameSite, the
 * `__Host-`/`__Secure-` prefixes and their rules, no Domain, the refresh
 * cookie scoped to the refresh path, and lifetimes.
 */
import type { AuditContext } from './context.ts'
import type { Exchange } from './http.ts'
import { deletes, lifetime, parseSetCookie, pathMatches, type SetCookie } from './jar.ts'
import type { AuditOptions } from './options.ts'

/** Which cookie does what. Learned from what login sets, unless named with --access-cookie / --refresh-cookie. */
export interface Roles {
  csrf: string
  access: string[]
  refresh: string[]
}

export type Role = 'csrf' | 'access' | 'refresh' | 'other'

const CSRFISH = /csrf|xsrf/i
/** Names that usually carry a session, for cookies login did not set (a pre-login session id, say). */
const SESSIONISH = /sess|sid|auth|token|jwt|access|refresh|login|remember|identity/i

const ACCESS_MAX_LIFETIME = 60 * 60
const REFRESH_MAX_LIFETIME = 90 * 24 * 60 * 60

function setCookiesOf(e: Exchange): SetCookie[] {
  return e.setCookies.map((raw) => parseSetCookie(raw)).filter((c): c is SetCookie => c !== null)
}

/** Roles from the login answer: every cookie it sets authenticates, but the CSRF one; "refresh" in the name or a path-scoped one is the refresh cookie. */
export function identifyRoles(options: AuditOptions, login: Exchange | undefined): Roles {
  const csrf = options.csrf.cookie
  const set = login ? setCookiesOf(login).filter((c) => !deletes(c, login.at)) : []
  const candidates = set.filter((c) => c.name !== csrf && !CSRFISH.test(c.name))
  const refresh = options.refreshCookies ?? [...new Set(candidates.filter((c) => /refresh/i.test(c.name) || (c.path !== undefined && c.path !== '/')).map((c) => c.name))]
  const access = options.accessCookies ?? [...new Set(candidates.map((c) => c.name).filter((n) => !refresh.includes(n)))]
  return { csrf, access, refresh }
}

export function roleOf(roles: Roles, name: string): Role {
  if (name === roles.csrf) return 'csrf'
  if (roles.refresh.includes(name)) return 'refresh'
  if (roles.access.includes(name)) return 'access'
  if (CSRFISH.test(name)) return 'csrf'
  if (SESSIONISH.test(name)) return 'access'
  return 'other'
}

const hasPrefix = (name: string, prefix: string) => name.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()

interface Seen {
  cookie: SetCookie
  exchange: Exchange
}

const list = (names: Iterable<string>) => [...names].join(', ')

/** Checks every cookie set anywhere during the run. */
export function checkCookies(ctx: AuditContext, roles: Roles): void {
  const f = ctx.findings
  const byName = new Map<string, Seen[]>()
  for (const exchange of ctx.client.log) {
    for (const cookie of setCookiesOf(exchange)) {
      if (deletes(cookie, exchange.at)) continue
      const seen = byName.get(cookie.name) ?? []
      seen.push({ cookie, exchange })
      byName.set(cookie.name, seen)
    }
  }
  if (byName.size === 0) {
    f.info('cookie-none', 'No cookie was set', 'The deployment set no cookie on any answer the audit saw; cookie checks did not run.')
    return
  }
  const relevant = [...byName.keys()].filter((n) => roleOf(roles, n) !== 'other')
  const authNames = relevant.filter((n) => roleOf(roles, n) !== 'csrf')
  const some = (name: string, test: (c: SetCookie) => boolean) => byName.get(name)!.some((s) => test(s.cookie))
  const where = (name: string, test: (c: SetCookie) => boolean) => {
    const s = byName.get(name)!.find((x) => test(x.cookie))!
    return `${s.exchange.method} ${s.exchange.url.pathname}: Set-Cookie: ${s.cookie.raw.replace(/=([^;]{12})[^;]*/, '=$1…')}`
  }

  // HttpOnly: a cookie that authenticates must be out of reach of the page's scripts.
  const noHttpOnly = authNames.filter((n) => some(n, (c) => !c.httpOnly))
  for (const n of noHttpOnly) {
    f.fail('cookie-httponly-missing', `${n}: authenticates but is not HttpOnly`, `Any script on the page (one XSS, a compromised dependency) reads it and sends the session elsewhere. ${where(n, (c) => !c.httpOnly)}`, `Add HttpOnly to ${n}; the page never needs to read it (only the CSRF cookie is readable, by design).`)
  }
  if (authNames.length && !noHttpOnly.length) f.pass('cookie-httponly', `HttpOnly on the authenticating cookies (${list(authNames)})`)

  // Secure: never over plain HTTP.
  const noSecure = relevant.filter((n) => some(n, (c) => !c.secure))
  for (const n of noSecure) {
    f.fail('cookie-secure-missing', `${n}: not Secure`, `The browser sends it over plain HTTP too, where anyone on the network reads it. ${where(n, (c) => !c.secure)}`, `Add Secure to ${n} (browsers accept Secure cookies on http://localhost for development).`)
  }
  if (relevant.length && !noSecure.length) f.pass('cookie-secure', `Secure on ${list(relevant)}`)

  // SameSite: Lax or Strict, explicitly.
  let sameSiteOk = relevant.length > 0
  for (const n of relevant) {
    const values = byName.get(n)!.map((s) => s.cookie.sameSite?.toLowerCase())
    if (values.some((v) => v === undefined)) {
      sameSiteOk = false
      f.warn('cookie-samesite-missing', `${n}: no SameSite attribute`, `Chromium treats it as Lax, but Firefox and Safari send it on cross-site requests. ${where(n, (c) => c.sameSite === undefined)}`, `Set SameSite=Lax (or Strict for a cookie only the auth endpoints read) on ${n}.`)
    } else if (values.some((v) => v === 'none')) {
      sameSiteOk = false
      f.warn('cookie-samesite-none', `${n}: SameSite=None`, `Every other site's requests carry it; only the CSRF and Origin checks stand between them and the session. ${where(n, (c) => c.sameSite?.toLowerCase() === 'none')}`, `Use SameSite=Lax or Strict on ${n}; an SPA on another origin of the same site does not need None.`)
    } else if (values.some((v) => v !== 'lax' && v !== 'strict')) {
      sameSiteOk = false
      f.warn('cookie-samesite-invalid', `${n}: SameSite="${values.find((v) => v !== 'lax' && v !== 'strict')}"`, 'Browsers ignore an unknown SameSite value and fall back to their default.', `Set SameSite=Lax or SameSite=Strict on ${n}.`)
    }
  }
  if (sameSiteOk) f.pass('cookie-samesite', `SameSite=Lax or Strict on ${list(relevant)}`)

  // Prefixes: a broken rule means browsers drop the cookie; no prefix means a sibling subdomain can toss one in.
  let prefixOk = relevant.length > 0
  for (const n of byName.keys()) {
    if (hasPrefix(n, '__Host-')) {
      const bad = (c: SetCookie) => !c.secure || c.path !== '/' || c.domain !== undefined
      if (some(n, bad)) {
        prefixOk = false
        f.fail('cookie-prefix-invalid', `${n}: breaks the __Host- rules`, `A __Host- cookie must be Secure, Path=/ and have no Domain, or browsers refuse to store it. ${where(n, bad)}`, `Set ${n} with Secure; Path=/ and no Domain attribute.`)
      }
    } else if (hasPrefix(n, '__Secure-')) {
      if (some(n, (c) => !c.secure)) {
        prefixOk = false
        f.fail('cookie-prefix-invalid', `${n}: breaks the __Secure- rule`, `A __Secure- cookie must be Secure, or browsers refuse to store it. ${where(n, (c) => !c.secure)}`, `Add Secure to ${n}.`)
      }
    } else if (roleOf(roles, n) !== 'other') {
      prefixOk = false
      const scoped = some(n, (c) => c.path !== undefined && c.path !== '/')
      f.warn('cookie-prefix-missing', `${n}: no __Host- or __Secure- prefix`, `A sibling subdomain (or a man in the middle on plain HTTP) can set a cookie of this name for the whole site; the prefix makes browsers refuse such a cookie.`, scoped ? `Rename it __Secure-${n} (it is path-scoped, so __Host- does not fit).` : `Rename it __Host-${n} (Secure, Path=/, no Domain).`)
    }
  }
  if (prefixOk) f.pass('cookie-prefix', `Prefixed, and by the prefix rules: ${list(relevant)}`)

  // Domain: host-only unless there is a reason.
  const wide = relevant.filter((n) => some(n, (c) => c.domain !== undefined))
  for (const n of wide) {
    f.warn('cookie-domain-wide', `${n}: Domain=${byName.get(n)!.find((s) => s.cookie.domain)!.cookie.domain}`, 'Every subdomain receives it, and any of them can overwrite it.', `Drop the Domain attribute from ${n} (a host-only cookie), unless subdomains really must share the session.`)
  }
  if (relevant.length && !wide.length) f.pass('cookie-host-only', `Host-only (no Domain): ${list(relevant)}`)

  // The refresh cookie travels to the refresh endpoint only.
  const refreshNames = relevant.filter((n) => roleOf(roles, n) === 'refresh')
  let refreshPathOk = refreshNames.length > 0
  for (const n of refreshNames) {
    const paths = [...new Set(byName.get(n)!.map((s) => s.cookie.path ?? '/'))]
    if (paths.some((p) => !pathMatches(ctx.options.paths.refresh, p))) {
      refreshPathOk = false
      f.fail('cookie-refresh-path-mismatch', `${n}: Path=${paths.join(', ')} does not cover ${ctx.options.paths.refresh}`, 'The browser never sends it to the refresh endpoint, so a session cannot be refreshed.', `Set Path to ${ctx.options.paths.refresh} or a parent of it (Bastion: the auth base path).`)
    } else if (paths.includes('/')) {
      refreshPathOk = false
      f.warn('cookie-refresh-path-wide', `${n}: Path=/ (sent on every request)`, 'The long-lived refresh token travels with every request to the site, into every log and proxy on the way, where only the refresh endpoint needs it.', `Scope ${n} to the auth endpoints (e.g. Path=${ctx.options.paths.refresh.replace(/\/[^/]*$/, '') || '/'}).`)
    }
  }
  if (refreshPathOk) f.pass('cookie-refresh-path', `The refresh cookie is path-scoped (${refreshNames.map((n) => `${n}: Path=${byName.get(n)![0]!.cookie.path}`).join(', ')})`)

  // Lifetimes.
  let lifetimeOk = authNames.length > 0
  for (const n of authNames) {
    const role = roleOf(roles, n)
    const max = role === 'refresh' ? REFRESH_MAX_LIFETIME : ACCESS_MAX_LIFETIME
    const longest = Math.max(...byName.get(n)!.map((s) => lifetime(s.cookie, Date.parse(s.exchange.headers.get('date') ?? '') || s.exchange.at) ?? 0))
    if (longest > max) {
      lifetimeOk = false
      f.warn('cookie-lifetime-long', `${n}: lives ${human(longest)}`, role === 'refresh' ? `A refresh cookie should expire after an idle time of days to weeks (at most ${human(max)}).` : `A cookie that authenticates by itself (no refresh needed) should live minutes, as long as the access token (at most ${human(max)}); a stolen copy stays good all that time.`, role === 'refresh' ? `Shorten Max-Age of ${n}.` : `Give ${n} the access token's lifetime (Max-Age of minutes) and renew it through a rotating refresh token.`)
    }
  }
  if (lifetimeOk) f.pass('cookie-lifetime', `Lifetimes: ${authNames.map((n) => `${n} ${human(Math.max(...byName.get(n)!.map((s) => lifetime(s.cookie, s.exchange.at) ?? 0))) || 'session'}`).join(', ')}`)
}

export function human(seconds: number): string {
  if (seconds <= 0) return ''
  if (seconds < 120) return `${seconds} s`
  if (seconds < 2 * 3600) return `${Math.round(seconds / 60)} min`
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} h`
  return `${Math.round(seconds / 86400)} days`
}
