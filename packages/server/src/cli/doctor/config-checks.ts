/**
 * What the environment alone says about the cookies: the origin browsers will
 * use, whether they keep Secure cookies there, and whether every allowed SPA
 * origin is one that the browser will send them from.
 */
import { resolveConfig, type ResolvedConfig } from '../../config.ts'
import { optionsFromEnv, resolveSecret, type EnvOptions } from '../../env.ts'
import { ConfigError } from '../../errors.ts'
import { serializeCookie } from '../../http/cookies.ts'
import type { Store } from '../../store.ts'
import type { Finding } from '../report.ts'
import { analyseCookies, parseSetCookie, type CookieRole } from './set-cookie.ts'
import { differentLoopbackSites, isLoopback, registrableDomain, siteOf } from './site.ts'

export interface ConfigView {
  /** The parsed environment, or null when it does not parse (then a `config-invalid` finding says why). */
  options: EnvOptions | null
  /** The validated configuration, or null when validation refused it. */
  resolved: ResolvedConfig | null
  production: boolean
  /** `BASTION_HTTPS`: the demo serves TLS itself. */
  https: boolean
  /** `BASTION_PUBLIC_ORIGIN` when it is a usable origin. */
  publicOrigin: URL | null
  /** `BASTION_TRUST_PROXY`. */
  trustProxy: boolean
  /** The origin the demo prints from HOST/PORT/BASTION_HTTPS (null when they do not make one). */
  listenOrigin: URL | null
  /** The valid allowed SPA origins. */
  allowedOrigins: URL[]
  /** Auth cookie names (the defaults: the environment cannot rename them). */
  cookieNames: Record<Exclude<CookieRole, 'other'>, string>
}

const DEFAULT_NAMES = { access: '__Host-access', refresh: '__Secure-refresh', csrf: '__Host-csrf' }

/** What `resolveConfig` needs but never touches: it only checks that a store is given. */
const NO_STORE = {} as Store
/** Stands in for the secret the demo generates into its data directory outside production (doctor writes no files). */
const PLACEHOLDER_SECRET = 'doctor-placeholder-secret-0123456789abcdef'

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The demo's PORT rule (apps/demo/src/main.ts). */
function portFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.PORT
  if (raw === undefined || raw === '') return 3000
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`PORT must be a port number, got "${raw}".`)
  return n
}

export const SAFARI: Finding = {
  id: 'safari-localhost',
  severity: 'warn',
  title: 'Safari does not accept Secure cookies on http://localhost or 127.0.0.1',
  detail: 'Chromium and Firefox treat http://localhost as secure and keep the __Host-/Secure cookies; Safari drops them, so sign-in silently does nothing there.',
  fix: 'To develop with Safari, serve https://localhost: BASTION_HTTPS=1 npm start (a self-signed certificate is generated; accept it once).',
}

type AllowedVerdict = { url: URL; findings: Finding[] } | { url: null; findings: Finding[] }

/** Is this entry an origin a browser sends, exactly (scheme://host[:port], lower case, no default port, nothing after)? */
function checkAllowedSyntax(raw: string): AllowedVerdict {
  const invalid = (why: string, fix: string): AllowedVerdict => ({
    url: null,
    findings: [{ id: 'allowed-origin-invalid', severity: 'fail', title: `BASTION_ALLOWED_ORIGINS: "${raw}" is not an origin`, detail: why, fix }],
  })
  const exactly = 'List each SPA origin exactly as the browser sends it in Origin: scheme://host[:port], comma-separated, e.g. https://app.example.com,http://localhost:5173.'
  if (raw === 'null') return invalid('Origin: null is what sandboxed iframes, file:// pages and some redirects send; anyone can produce it, so Bastion never trusts it.', 'Remove it; serve the SPA from a real origin and list that.')
  if (raw.includes('*')) return invalid('Wildcards are not supported: an allow-list with credentials must name each origin (a wildcard would also let in every subdomain takeover).', exactly)
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return invalid('It does not parse as a URL.', exactly)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return invalid(`The scheme ${url.protocol} is not one a web page runs on.`, exactly)
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') {
    return invalid('An origin has no path, query or credentials: the browser sends only scheme://host[:port], so this never matches.', `Use ${url.origin}.`)
  }
  if (raw === `${url.origin}/`) {
    return {
      url,
      findings: [{
        id: 'allowed-origin-trailing-slash',
        severity: 'warn',
        title: `BASTION_ALLOWED_ORIGINS: "${raw}" ends with a slash`,
        detail: 'An Origin header never ends with "/". Bastion trims it, but proxies, CDNs and other services that read the same list usually compare exactly.',
        fix: `Write ${url.origin}.`,
      }],
    }
  }
  if (raw !== url.origin) {
    return invalid(`Browsers send it as ${url.origin} (lower case, no default port); Bastion compares exactly and refuses this entry at start.`, `Write ${url.origin}.`)
  }
  return { url, findings: [] }
}

/** Where the SPA origin stands to the server's: same origin, same site (fine), or another site (cookies blocked). */
function checkAllowedSite(url: URL, server: URL | null, production: boolean): Finding[] {
  const o = url.origin
  const out: Finding[] = []
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    out.push({
      id: 'allowed-origin-insecure',
      severity: 'fail',
      title: `BASTION_ALLOWED_ORIGINS: ${o} is plain http`,
      detail: 'Anyone on the network can rewrite that page and make it call the API with the user’s cookies; Bastion refuses it in production.',
      fix: `Serve the SPA over HTTPS and list https://${url.host}.`,
    })
  } else if (production && url.protocol === 'http:') {
    out.push({
      id: 'allowed-origin-loopback-in-production',
      severity: 'warn',
      title: `BASTION_ALLOWED_ORIGINS: ${o} is a development origin, allowed in production`,
      detail: 'Any page a user happens to run on that local port could call the production API with their cookies.',
      fix: 'Keep development origins out of the production environment.',
    })
  }
  if (!server) return out
  if (url.origin === server.origin) {
    out.push({ id: 'allowed-origin-same-origin', severity: 'info', title: `${o} is the server's own origin (listing it is harmless and unnecessary)` })
  } else if (differentLoopbackSites(url, server)) {
    out.push({
      id: 'localhost-vs-127',
      severity: 'fail',
      title: `The SPA origin ${o} and the server ${server.origin} are different sites (${url.hostname} vs ${server.hostname})`,
      detail: `Browsers treat localhost and 127.0.0.1 as unrelated sites: the cookies the server sets on ${server.hostname} are SameSite-blocked (cross-site) on the SPA's calls from ${url.hostname}.`,
      fix: `Use the same host name on both sides, e.g. open the SPA at ${url.protocol}//${server.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)} and list that origin.`,
    })
  } else if (siteOf(url) !== siteOf(server)) {
    const schemeOnly = registrableDomain(url.hostname) === registrableDomain(server.hostname)
    out.push({
      id: 'allowed-origin-cross-site',
      severity: 'fail',
      title: `The SPA origin ${o} is on another site than the server (${siteOf(server)})`,
      detail: schemeOnly
        ? 'Same domain but another scheme: browsers compare sites with the scheme (schemeful same-site), so this is cross-site.'
        : `To the browser the server's cookies are third-party cookies on ${url.hostname}: SameSite=Lax/Strict keeps them off the SPA's fetches, and Safari, Firefox and Chrome's third-party cookie blocking drop them altogether.`,
      fix: `Serve the SPA from a subdomain of ${registrableDomain(server.hostname)} (e.g. app.${registrableDomain(server.hostname)}) or from the server's own origin; to keep an existing API elsewhere, put it behind Bastion's gateway (BASTION_GATEWAY_UPSTREAM=http://api:port) so the SPA talks to one origin.`,
    })
  } else {
    out.push({ id: 'allowed-origin-same-site', severity: 'pass', title: `${o} is the same site as the server (${siteOf(server)}): the cookies go with its requests` })
  }
  return out
}

/** The configuration as Bastion and the demo would read it from `env`, and every finding about it. */
export function checkConfig(env: NodeJS.ProcessEnv, url: URL | null): { view: ConfigView; findings: Finding[] } {
  const findings: Finding[] = []
  const view: ConfigView = {
    options: null,
    resolved: null,
    production: env.NODE_ENV === 'production',
    https: ['1', 'true'].includes((env.BASTION_HTTPS ?? '').toLowerCase()),
    publicOrigin: null,
    trustProxy: false,
    listenOrigin: null,
    allowedOrigins: [],
    cookieNames: DEFAULT_NAMES,
  }
  const configInvalid = (e: unknown): Finding => ({
    id: 'config-invalid',
    severity: 'fail',
    title: 'The server refuses this configuration',
    detail: message(e),
    fix: e instanceof ConfigError ? 'Do what the message says; the server stops at start until then.' : 'Check the environment variables against the README\'s Configuration table.',
  })

  let options: EnvOptions
  try {
    options = optionsFromEnv(env)
  } catch (e) {
    findings.push(configInvalid(e))
    return { view, findings }
  }
  view.options = options
  view.trustProxy = options.trustProxy ?? false

  // ---- where browsers reach the server ------------------------------------
  const host = env.HOST || 'localhost'
  try {
    const port = portFrom(env)
    const shown = host === '127.0.0.1' ? 'localhost' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
    view.listenOrigin = new URL(`${view.https ? 'https' : 'http'}://${shown}:${port}`)
  } catch (e) {
    findings.push(e instanceof ConfigError ? configInvalid(e) : configInvalid(new ConfigError(`HOST "${host}" is not a host name or address.`)))
  }

  let publicOk: string | undefined
  if (options.publicOrigin !== undefined) {
    const raw = options.publicOrigin
    const syntax = checkAllowedSyntax(raw)
    const parsed = syntax.url
    if (!parsed || syntax.findings.some((f) => f.id === 'allowed-origin-invalid')) {
      findings.push({
        id: 'public-origin-invalid',
        severity: 'fail',
        title: `BASTION_PUBLIC_ORIGIN "${raw}" is not an origin`,
        detail: syntax.findings[0]?.detail ?? 'It must be scheme://host[:port] with nothing after.',
        fix: parsed ? `Set BASTION_PUBLIC_ORIGIN=${parsed.origin}` : 'Set it to the origin in the browser\'s address bar, e.g. BASTION_PUBLIC_ORIGIN=https://app.example.com.',
      })
    } else if (parsed.protocol === 'http:' && !isLoopback(parsed.hostname)) {
      findings.push({
        id: 'cookie-plain-http',
        severity: 'fail',
        title: `BASTION_PUBLIC_ORIGIN=${raw} is plain http on a host that is not localhost`,
        detail: 'Browsers drop the Secure, __Host- and __Secure- cookies there: nobody can stay signed in. (The server refuses to start so.)',
        fix: `Serve it over HTTPS (a TLS proxy in front) and set BASTION_PUBLIC_ORIGIN=https://${parsed.host} and BASTION_TRUST_PROXY=1.`,
      })
      // Still the origin browsers use: the site checks below compare against it, not the listen address.
      view.publicOrigin = parsed
    } else {
      view.publicOrigin = parsed
      publicOk = parsed.origin
    }
  }

  const allowedOk: string[] = []
  const allowedFindings: Finding[] = []
  for (const raw of options.allowedOrigins ?? []) {
    const syntax = checkAllowedSyntax(raw)
    allowedFindings.push(...syntax.findings)
    if (!syntax.url) continue
    view.allowedOrigins.push(syntax.url)
    if (!(syntax.url.protocol === 'http:' && !isLoopback(syntax.url.hostname))) allowedOk.push(syntax.url.origin)
  }

  // ---- the server's own validation ----------------------------------------------
  // Once as given (does the server start?), and once without the origins judged above,
  // so that a refusal they explain is not reported twice and the rest is still checked.
  try {
    const production = options.production ?? false
    const secret = env.BASTION_SECRET || production ? resolveSecret(env, env.BASTION_DATA_DIR || './data') : PLACEHOLDER_SECRET
    let acceptedAsGiven = true
    try {
      resolveConfig({ ...options, store: NO_STORE, secret })
    } catch {
      acceptedAsGiven = false
    }
    view.resolved = resolveConfig({ ...options, publicOrigin: publicOk, allowedOrigins: allowedOk, store: NO_STORE, secret })
    view.cookieNames = { access: view.resolved.cookies.access.name, refresh: view.resolved.cookies.refresh.name, csrf: view.resolved.cookies.csrf.name }
    if (acceptedAsGiven && !findings.some((f) => f.id === 'config-invalid')) findings.unshift({ id: 'config-valid', severity: 'pass', title: "Bastion's validation accepts this configuration" })
  } catch (e) {
    findings.push(configInvalid(e))
  }

  // ---- does the browser keep Secure cookies at that origin? -----------------
  // With --url and no public origin, the live checks judge the URL itself.
  const browserOrigin = view.publicOrigin ?? (url ? null : view.production ? null : view.listenOrigin)
  if (browserOrigin) {
    if (browserOrigin.protocol === 'https:') {
      findings.push({ id: 'cookie-secure-context', severity: 'pass', title: `Browsers reach the server at ${browserOrigin.origin}: they keep its Secure cookies` })
    } else if (isLoopback(browserOrigin.hostname)) {
      findings.push({ id: 'cookie-secure-context', severity: 'pass', title: `${browserOrigin.origin} is loopback: Chromium and Firefox keep Secure cookies there` })
      findings.push({ ...SAFARI, detail: `${SAFARI.detail} (${browserOrigin.origin})` })
    } else if (browserOrigin !== view.publicOrigin) {
      // (A plain-http BASTION_PUBLIC_ORIGIN was reported above, with its own fix.)
      findings.push({
        id: 'cookie-plain-http',
        severity: 'fail',
        title: `HOST=${host} serves the cookies over plain http on a host that is not localhost`,
        detail: 'Browsers drop Secure, __Host- and __Secure- cookies from an http:// origin other than localhost: nobody can stay signed in. (The demo refuses to start so.)',
        fix: 'Put a TLS proxy in front and set BASTION_PUBLIC_ORIGIN=https://… and BASTION_TRUST_PROXY=1, or set BASTION_HTTPS=1, or use HOST=localhost for development.',
      })
    }
  }

  // ---- the cookies as the server writes them --------------------------------
  if (view.resolved && !url) {
    const r = view.resolved
    const at = new URL(`${r.basePath}/login`, browserOrigin ?? 'https://server.invalid')
    const lines: Array<[CookieRole, string]> = [
      ['access', serializeCookie(r.cookies.access, { value: 'x', maxAge: r.accessTtl, httpOnly: true })],
      ['refresh', serializeCookie(r.cookies.refresh, { value: 'x', maxAge: r.refreshTtl, httpOnly: true })],
      ['csrf', serializeCookie(r.cookies.csrf, { value: 'x', maxAge: r.refreshTtl, httpOnly: false })],
    ]
    findings.push(
      ...analyseCookies(
        lines.map(([role, line]) => ({ cookie: parseSetCookie(line), role, requestUrl: at, deleting: false, seenAt: `POST ${r.basePath}/login (as configured)` })),
        { transport: false, refreshPath: `${r.basePath}/refresh` },
      ),
    )
  }

  // ---- allowed SPA origins -----------------------------------------------------
  const server = view.publicOrigin ?? url ?? (view.production ? null : view.listenOrigin)
  if ((options.allowedOrigins ?? []).length === 0) {
    findings.push({ id: 'allowed-origins', severity: 'pass', title: 'BASTION_ALLOWED_ORIGINS is empty: only pages on the server\'s own origin call it with cookies' })
  }
  findings.push(...allowedFindings)
  for (const origin of view.allowedOrigins) findings.push(...checkAllowedSite(origin, server, view.production))
  if (!server && view.allowedOrigins.length > 0) {
    findings.push({
      id: 'allowed-origin-site-unknown',
      severity: 'info',
      title: `Not compared with the server's site: ${view.allowedOrigins.map((u) => u.origin).join(', ')}`,
      detail: 'Set BASTION_PUBLIC_ORIGIN (or pass --url) so doctor knows the origin browsers use for the server.',
    })
  }

  // ---- a proxy in front ----------------------------------------------------------
  if (view.production && !view.publicOrigin && !view.trustProxy && !view.https) {
    findings.push({
      id: 'proxy-not-trusted',
      severity: 'fail',
      title: 'NODE_ENV=production with neither BASTION_PUBLIC_ORIGIN nor BASTION_TRUST_PROXY',
      detail: 'Behind a TLS proxy the server sees http://<upstream host>, so the https:// Origin browsers send never matches its own and every login, refresh and logout is refused 403 forbidden_origin.',
      fix: 'Set BASTION_PUBLIC_ORIGIN=https://<the address users open> and BASTION_TRUST_PROXY=1 (the proxy must set X-Forwarded-For).',
    })
  } else if (view.production && !view.publicOrigin && view.trustProxy) {
    findings.push({
      id: 'public-origin-unset',
      severity: 'warn',
      title: 'BASTION_PUBLIC_ORIGIN is not set: the origin comes from X-Forwarded-Proto/Host on every request',
      detail: 'It works only while the proxy sets both headers on every request; the JWT issuer also falls back to "bastion".',
      fix: 'Set BASTION_PUBLIC_ORIGIN=https://<the address users open>.',
    })
  } else if (view.publicOrigin?.protocol === 'https:' && !view.trustProxy && !view.https) {
    findings.push({
      id: 'trust-proxy-off',
      severity: 'warn',
      title: `BASTION_PUBLIC_ORIGIN is ${view.publicOrigin.origin} but BASTION_TRUST_PROXY is off`,
      detail: 'A TLS proxy is in front, so every request comes from its address: the per-address limits (100 login attempts per 15 min) then count all users together, and the audit log shows one IP.',
      fix: 'Set BASTION_TRUST_PROXY=1 (only when exactly one proxy you run is in front; it must set X-Forwarded-For).',
    })
  } else if (view.publicOrigin && view.trustProxy) {
    findings.push({ id: 'proxy', severity: 'pass', title: `Behind a proxy: public origin ${view.publicOrigin.origin}, X-Forwarded-For trusted` })
  }

  // ---- token lifetime ------------------------------------------------------------
  if (view.resolved) {
    const ttl = view.resolved.accessTtl
    findings.push(
      ttl < 60
        ? {
            id: 'access-ttl-short',
            severity: 'warn',
            title: `BASTION_ACCESS_TTL=${ttl}: access tokens (and their cookie) live under a minute`,
            detail: 'A few seconds of clock skew between servers then make tokens look expired or not yet valid, and every client refreshes constantly.',
            fix: 'Keep it at 300 (the default) or anywhere from 60 up.',
          }
        : { id: 'access-ttl', severity: 'pass', title: `Access tokens and their cookie live ${ttl} s` },
    )
  }
  return { view, findings }
}
