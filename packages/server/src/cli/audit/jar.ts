/**
 * A minimal cookie jar (Node's fetch keeps none): RFC 6265bis storage and
 * matching by domain, path and expiry, enough to play a browser against a
 * deployment. It is lenient where a browser is strict, on purpose: a `Secure`
 * cookie is stored and sent over plain HTTP (as Chromium does on localhost),
 * and a cookie that breaks its `__Host-`/`__Secure-` prefix rules is kept,
 * so the audit can go on testing the server's logic; the cookie checks
 * (`cookies.ts`) report what a real browser would have refused.
 */

/** One `Set-Cookie` header, parsed, with its attributes as the server wrote them. */
export interface SetCookie {
  raw: string
  name: string
  value: string
  /** Seconds, when `Max-Age` was given. */
  maxAge?: number
  /** Epoch ms, when `Expires` parsed. */
  expires?: number
  /** Lowercased, without a leading dot. */
  domain?: string
  path?: string
  secure: boolean
  httpOnly: boolean
  /** As written (`Lax`, `strict`, `None`, …); undefined when absent. */
  sameSite?: string
  partitioned: boolean
}

export function parseSetCookie(raw: string): SetCookie | null {
  const [pair = '', ...attributes] = raw.split(';')
  const eq = pair.indexOf('=')
  if (eq < 0) return null
  const name = pair.slice(0, eq).trim()
  if (!name) return null
  let value = pair.slice(eq + 1).trim()
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
  const cookie: SetCookie = { raw, name, value, secure: false, httpOnly: false, partitioned: false }
  for (const attribute of attributes) {
    const i = attribute.indexOf('=')
    const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase()
    const val = i < 0 ? '' : attribute.slice(i + 1).trim()
    if (key === 'max-age') {
      if (/^-?\d+$/.test(val)) cookie.maxAge = Number(val)
    } else if (key === 'expires') {
      const t = Date.parse(val)
      if (!Number.isNaN(t)) cookie.expires = t
    } else if (key === 'domain') {
      if (val) cookie.domain = val.replace(/^\./, '').toLowerCase()
    } else if (key === 'path') {
      if (val.startsWith('/')) cookie.path = val
    } else if (key === 'secure') cookie.secure = true
    else if (key === 'httponly') cookie.httpOnly = true
    else if (key === 'samesite') cookie.sameSite = val
    else if (key === 'partitioned') cookie.partitioned = true
  }
  return cookie
}

/** Whether this Set-Cookie deletes the cookie (Max-Age ≤ 0, or Expires in the past). */
export function deletes(cookie: SetCookie, now = Date.now()): boolean {
  if (cookie.maxAge !== undefined) return cookie.maxAge <= 0
  return cookie.expires !== undefined && cookie.expires <= now
}

/**
 * Seconds this cookie lives, from `Max-Age` (which wins) or `Expires`
 * against the response's `Date`; undefined for a session cookie.
 */
export function lifetime(cookie: SetCookie, responseDate: number = Date.now()): number | undefined {
  if (cookie.maxAge !== undefined) return cookie.maxAge
  if (cookie.expires !== undefined) return Math.round((cookie.expires - responseDate) / 1000)
  return undefined
}

export interface StoredCookie {
  name: string
  value: string
  /** Lowercased host (host-only) or the Domain attribute. */
  domain: string
  hostOnly: boolean
  path: string
  secure: boolean
  httpOnly: boolean
  sameSite?: string
  /** Epoch ms; undefined for a session cookie. */
  expiresAt?: number
}

/** RFC 6265 §5.1.4: the directory of the request path. */
function defaultPath(url: URL): string {
  const p = url.pathname
  if (!p.startsWith('/') || p.lastIndexOf('/') === 0) return '/'
  return p.slice(0, p.lastIndexOf('/'))
}

/** RFC 6265 §5.1.4 path-match. */
export function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}

function domainMatches(host: string, domain: string): boolean {
  return host === domain || (host.endsWith('.' + domain) && !/^[\d.]+$|^\[/.test(host))
}

const hostOf = (url: URL): string => url.hostname.toLowerCase()

export class CookieJar {
  private cookies: StoredCookie[] = []

  /** Stores (or deletes) what one response set, as a browser at `url` would. */
  store(cookie: SetCookie, url: URL, now = Date.now()): void {
    const host = hostOf(url)
    if (cookie.domain !== undefined && !domainMatches(host, cookie.domain)) return // a browser ignores it
    const stored: StoredCookie = {
      name: cookie.name,
      value: cookie.value,
      domain: cookie.domain ?? host,
      hostOnly: cookie.domain === undefined,
      path: cookie.path ?? defaultPath(url),
      secure: cookie.secure,
      httpOnly: cookie.httpOnly,
      ...(cookie.sameSite !== undefined ? { sameSite: cookie.sameSite } : {}),
      ...(cookie.maxAge !== undefined
        ? { expiresAt: now + cookie.maxAge * 1000 }
        : cookie.expires !== undefined
          ? { expiresAt: cookie.expires }
          : {}),
    }
    this.cookies = this.cookies.filter((c) => !(c.name === stored.name && c.domain === stored.domain && c.path === stored.path))
    if (!deletes(cookie, now)) this.cookies.push(stored)
  }

  /** Puts a cookie in as if a server (or a sibling subdomain) had set it. */
  set(cookie: StoredCookie): void {
    this.cookies = this.cookies.filter((c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path))
    this.cookies.push({ ...cookie })
  }

  /** The cookies a browser would send to `url`, longest path first. */
  matching(url: URL, now = Date.now()): StoredCookie[] {
    const host = hostOf(url)
    this.cookies = this.cookies.filter((c) => c.expiresAt === undefined || c.expiresAt > now)
    return this.cookies
      .filter((c) => (c.hostOnly ? c.domain === host : domainMatches(host, c.domain)) && pathMatches(url.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length)
  }

  /** The `Cookie` header for `url`, or undefined when nothing matches. */
  header(url: URL): string | undefined {
    const list = this.matching(url)
    return list.length ? list.map((c) => `${c.name}=${c.value}`).join('; ') : undefined
  }

  /** The first stored cookie of that name (any path), if any. */
  get(name: string): StoredCookie | undefined {
    return this.cookies.find((c) => c.name === name)
  }

  all(): StoredCookie[] {
    return this.cookies.map((c) => ({ ...c }))
  }

  clone(): CookieJar {
    const jar = new CookieJar()
    jar.cookies = this.all()
    return jar
  }
}
