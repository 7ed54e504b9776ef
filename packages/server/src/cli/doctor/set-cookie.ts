/**
 * A `Set-Cookie` line as a browser reads it (RFC 6265bis §5.6), and every
 * reason a browser would refuse it, or store it and then not send it where
 * Bastion needs it.
 */
import type { Finding } from '../report.ts'
import { isLoopback, isPublicSuffix } from './site.ts'

export interface SetCookie {
  /** The line as sent. */
  raw: string
  name: string
  value: string
  domain: string | undefined
  path: string | undefined
  secure: boolean
  httpOnly: boolean
  /** As written (`Lax`, `strict`, …), or undefined when absent. */
  sameSite: string | undefined
  maxAge: number | undefined
  /** Epoch ms. */
  expires: number | undefined
}

export function parseSetCookie(raw: string): SetCookie {
  const [pair = '', ...attributes] = raw.split(';')
  const eq = pair.indexOf('=')
  const cookie: SetCookie = {
    raw,
    name: (eq === -1 ? '' : pair.slice(0, eq)).trim(),
    value: (eq === -1 ? pair : pair.slice(eq + 1)).trim(),
    domain: undefined,
    path: undefined,
    secure: false,
    httpOnly: false,
    sameSite: undefined,
    maxAge: undefined,
    expires: undefined,
  }
  for (const attribute of attributes) {
    const at = attribute.indexOf('=')
    const key = (at === -1 ? attribute : attribute.slice(0, at)).trim().toLowerCase()
    const val = at === -1 ? '' : attribute.slice(at + 1).trim()
    if (key === 'domain') cookie.domain = val.replace(/^\./, '').toLowerCase() || undefined
    else if (key === 'path') cookie.path = val.startsWith('/') ? val : undefined
    else if (key === 'secure') cookie.secure = true
    else if (key === 'httponly') cookie.httpOnly = true
    else if (key === 'samesite') cookie.sameSite = val
    else if (key === 'max-age' && /^-?\d+$/.test(val)) cookie.maxAge = Number(val)
    else if (key === 'expires' && !Number.isNaN(Date.parse(val))) cookie.expires = Date.parse(val)
  }
  return cookie
}

/** What the cookie is for Bastion: it decides which rules apply (HttpOnly for the tokens, readable for CSRF). */
export type CookieRole = 'access' | 'refresh' | 'csrf' | 'other'

export interface ObservedCookie {
  cookie: SetCookie
  role: CookieRole
  /** The URL of the request whose response set it. */
  requestUrl: URL
  /** A clearing line (logout): its lifetime is meant to be over. */
  deleting: boolean
  /** Where it was seen, for the detail, e.g. `GET /auth/csrf`. */
  seenAt: string
  /** The server's time (its Date header), to judge `Expires`. */
  serverNow?: number
}

export interface AnalyseOptions {
  /** Check the scheme of each request URL (live); the configuration checks the origin once instead. */
  transport: boolean
  /** The path of the refresh endpoint, which the refresh cookie's Path must cover, e.g. `/auth/refresh`. */
  refreshPath: string
}

/** Largest cookie every browser keeps: RFC 6265 §6.1 asks for at least 4096 bytes, and that is what they allow. */
export const MAX_COOKIE_BYTES = 4096

const hasPrefix = (name: string, prefix: string) => name.toLowerCase().startsWith(prefix.toLowerCase())

/** RFC 6265bis §5.1.4: does the request path fall under the cookie path? */
export function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}

/** RFC 6265bis §5.1.3 plus the public-suffix rule: would a browser accept this Domain from this host? */
function domainAcceptable(host: string, domain: string): boolean {
  const h = host.toLowerCase()
  if (h === domain) return true
  if (h.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return false
  return h.endsWith(`.${domain}`) && !isPublicSuffix(domain)
}

function summary(c: SetCookie): string {
  const parts = [
    c.secure ? 'Secure' : null,
    c.httpOnly ? 'HttpOnly' : null,
    c.sameSite ? `SameSite=${c.sameSite}` : null,
    `Path=${c.path ?? '(default)'}`,
    c.domain ? `Domain=${c.domain}` : null,
  ]
  return parts.filter(Boolean).join('; ')
}

/** The findings for one cookie as first seen, and the pass when nothing is wrong with it. */
function analyseOne(o: ObservedCookie, options: AnalyseOptions): Finding[] {
  const { cookie: c, role, requestUrl: url } = o
  const out: Finding[] = []
  const n = c.name
  const hostPrefix = hasPrefix(n, '__Host-')
  const prefixed = hostPrefix || hasPrefix(n, '__Secure-')
  const evidence = `${o.seenAt} answered: Set-Cookie: ${c.raw.length > 120 ? `${c.raw.slice(0, 120)}… (${Buffer.byteLength(c.raw)} bytes)` : c.raw}`
  const sameSite = c.sameSite?.toLowerCase()

  if (!c.secure && (prefixed || role !== 'other')) {
    out.push({
      id: 'cookie-secure-missing',
      severity: 'fail',
      title: `${n} is set without Secure`,
      detail: prefixed
        ? `A cookie named ${hostPrefix ? '__Host-' : '__Secure-'}… must be Secure: every browser rejects it without. ${evidence}`
        : `Without Secure the cookie travels over plain http too, where anyone on the network reads it. ${evidence}`,
      fix: 'Add the Secure attribute (Bastion always sets it; look for a proxy or middleware rewriting Set-Cookie).',
    })
  }
  if (sameSite === 'none' && !c.secure) {
    out.push({
      id: 'cookie-samesite-none-insecure',
      severity: 'fail',
      title: `${n} has SameSite=None without Secure`,
      detail: `Browsers reject a SameSite=None cookie that is not Secure. ${evidence}`,
      fix: 'Add Secure, or use SameSite=Lax (Strict for the refresh cookie), which Bastion needs anyway.',
    })
  }
  if (options.transport && url.protocol === 'http:' && !isLoopback(url.hostname) && (c.secure || prefixed)) {
    out.push({
      id: 'cookie-plain-http',
      severity: 'fail',
      title: `${n} is set over plain http on ${url.hostname}`,
      detail: `Browsers drop Secure and __Host-/__Secure- cookies set by an http:// page that is not localhost, so the browser never has them. ${evidence}`,
      fix: 'Serve it over HTTPS: a TLS proxy in front with BASTION_PUBLIC_ORIGIN=https://… and BASTION_TRUST_PROXY=1, then run doctor --url https://….',
    })
  }
  if (hostPrefix && c.domain !== undefined) {
    out.push({
      id: 'cookie-host-prefix-domain',
      severity: 'fail',
      title: `${n} has a Domain attribute (Domain=${c.domain})`,
      detail: `A __Host- cookie must be host-only: browsers reject it with any Domain. ${evidence}`,
      fix: 'Remove the domain option of this cookie (it must stay on the host that set it), or rename it __Secure-… if it really must be shared.',
    })
  }
  if (hostPrefix && c.path !== '/') {
    out.push({
      id: 'cookie-host-prefix-path',
      severity: 'fail',
      title: `${n} has ${c.path === undefined ? 'no Path' : `Path=${c.path}`}`,
      detail: `A __Host- cookie must say Path=/: browsers reject it otherwise. ${evidence}`,
      fix: "Set the cookie's path to '/' (the default for Bastion's __Host- cookies), or rename it __Secure-….",
    })
  }
  if (c.domain !== undefined && !domainAcceptable(url.hostname, c.domain)) {
    out.push({
      id: 'cookie-domain-mismatch',
      severity: 'fail',
      title: `${n} has Domain=${c.domain}, which ${url.hostname} may not set`,
      detail: `A browser accepts a Domain only when it is the host itself or a parent of it that is not a public suffix (nor for an IP address). ${evidence}`,
      fix: `Remove the domain option (host-only is safest), or set it to ${url.hostname} or a parent domain of it.`,
    })
  }
  if (Buffer.byteLength(c.raw) > MAX_COOKIE_BYTES) {
    out.push({
      id: 'cookie-too-large',
      severity: 'fail',
      title: `${n} is ${Buffer.byteLength(c.raw)} bytes, over the ${MAX_COOKIE_BYTES} browsers keep`,
      detail: `Browsers silently drop a cookie whose name, value and attributes exceed ${MAX_COOKIE_BYTES} bytes. ${evidence}`,
      fix: "Keep the cookie small: fewer claims in the access token (keep profile data out of it; BASTION_ACCESS_FORMAT=jwe adds ~30%), or a shorter name.",
    })
  }
  if ((role === 'access' || role === 'refresh') && !c.httpOnly) {
    out.push({
      id: 'cookie-httponly-missing',
      severity: 'fail',
      title: `${n} (the ${role} token) is readable by JavaScript (no HttpOnly)`,
      detail: `Any script on the page, an XSS included, can read and exfiltrate the token. ${evidence}`,
      fix: 'Set HttpOnly on the access and refresh cookies (Bastion does; look for a proxy or middleware rewriting Set-Cookie).',
    })
  }
  if (role === 'csrf' && c.httpOnly) {
    out.push({
      id: 'csrf-cookie-httponly',
      severity: 'fail',
      title: `${n} (the CSRF cookie) is HttpOnly`,
      detail: `The page's JavaScript cannot read it to send it back in the CSRF header, so every login, refresh and logout is refused 403 csrf_failed. ${evidence}`,
      fix: 'Do not set HttpOnly on the CSRF cookie: it carries no authority on its own, by design.',
    })
  }
  if (role === 'refresh' && c.path !== undefined && !pathMatches(options.refreshPath, c.path)) {
    out.push({
      id: 'cookie-refresh-path',
      severity: 'fail',
      title: `${n} has Path=${c.path}, so the browser does not send it to ${options.refreshPath}`,
      detail: `Refresh fails and the user is signed out when the access token expires. ${evidence}`,
      fix: 'Give the refresh cookie the basePath of the auth endpoints (Path=/auth by default).',
    })
  }
  if ((role === 'access' || role === 'refresh') && sameSite === 'none') {
    out.push({
      id: 'cookie-samesite-none',
      severity: 'warn',
      title: `${n} has SameSite=None`,
      detail: `Every other site's pages can make the browser send it (only the CSRF token then stops a forgery), and browsers that block third-party cookies drop it anyway. ${evidence}`,
      fix: 'Use SameSite=Lax for the access cookie and Strict for the refresh cookie; put a cross-site SPA on a subdomain of the same site, or behind the gateway.',
    })
  }
  if (role !== 'other' && sameSite === undefined) {
    out.push({
      id: 'cookie-samesite-missing',
      severity: 'warn',
      title: `${n} has no SameSite attribute`,
      detail: `Browsers disagree on the default (Chromium: Lax; Safari and Firefox: None), so it behaves differently in each. ${evidence}`,
      fix: 'Set SameSite explicitly: Lax for the access and CSRF cookies, Strict for the refresh cookie.',
    })
  }
  if (!o.deleting) {
    const expired =
      (c.maxAge !== undefined && c.maxAge <= 0) || (c.maxAge === undefined && c.expires !== undefined && c.expires <= (o.serverNow ?? Date.now()))
    if (expired) {
      out.push({
        id: 'cookie-expired',
        severity: 'fail',
        title: `${n} arrives already expired`,
        detail: `The browser deletes it as it stores it. ${evidence}`,
        fix: 'Give the cookie a positive Max-Age (Bastion: the token or session lifetime); check the server clock if it uses Expires.',
      })
    }
  }
  if (out.every((f) => f.severity !== 'fail')) {
    out.unshift({ id: 'cookie-attributes', severity: 'pass', title: `${n}: ${summary(c)}`, detail: `${o.seenAt} answered: Set-Cookie: ${c.raw.slice(0, 120)}` })
  }
  return out
}

/**
 * Findings for the cookies seen. Each cookie name is judged once, on the line
 * that sets it (else its clearing line); a clearing line with another Path or
 * Domain than the setting one is its own failure: it deletes nothing.
 */
export function analyseCookies(observed: ObservedCookie[], options: AnalyseOptions): Finding[] {
  const findings: Finding[] = []
  const byName = new Map<string, ObservedCookie[]>()
  for (const o of observed) {
    if (!o.cookie.name) continue
    const list = byName.get(o.cookie.name) ?? []
    list.push(o)
    byName.set(o.cookie.name, list)
  }
  for (const [name, list] of byName) {
    const setting = list.find((o) => !o.deleting)
    findings.push(...analyseOne(setting ?? list[0]!, options))
    const clearing = list.find((o) => o.deleting)
    if (setting && clearing && (setting.cookie.path !== clearing.cookie.path || setting.cookie.domain !== clearing.cookie.domain)) {
      findings.push({
        id: 'cookie-clear-mismatch',
        severity: 'fail',
        title: `${name} is cleared with other attributes than it is set with`,
        detail: `Set with Path=${setting.cookie.path ?? '(default)'} Domain=${setting.cookie.domain ?? '(host)'}, cleared (${clearing.seenAt}) with Path=${clearing.cookie.path ?? '(default)'} Domain=${clearing.cookie.domain ?? '(host)'}: the browser treats them as two cookies and keeps the first after logout.`,
        fix: 'Clear a cookie with exactly the Path and Domain it was set with.',
      })
    }
  }
  return findings
}
