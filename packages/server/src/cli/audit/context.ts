/**
 * What every check family shares: the options, the one budgeted HTTP client,
 * the findings so far, and `Browser`: a cookie jar plus the headers a
 * same-origin page's `fetch` would send (Origin and Sec-Fetch-Site on a
 * state-changing request, the CSRF header from the CSRF cookie), each of
 * which a probe can change or leave out.
 */
import type { Finding } from '../report.ts'
import type { Exchange, HttpClient } from './http.ts'
import { CookieJar, parseSetCookie } from './jar.ts'
import type { AuditOptions } from './options.ts'

export class Findings {
  readonly list: Finding[] = []
  pass(id: string, title: string, detail?: string): void {
    this.list.push({ id, severity: 'pass', title, ...(detail ? { detail } : {}) })
  }
  info(id: string, title: string, detail?: string): void {
    this.list.push({ id, severity: 'info', title, ...(detail ? { detail } : {}) })
  }
  warn(id: string, title: string, detail: string, fix: string): void {
    this.list.push({ id, severity: 'warn', title, detail, fix })
  }
  fail(id: string, title: string, detail: string, fix: string): void {
    this.list.push({ id, severity: 'fail', title, detail, fix })
  }
}

export interface AuditContext {
  options: AuditOptions
  /** The audited origin; every path is resolved against it. */
  origin: string
  client: HttpClient
  findings: Findings
  /** How many times the --post was sent on purpose (legitimately, or accepted without cookies): state the audit changed. */
  legitimatePosts: number
}

export interface SendOptions {
  /** A JSON body (serialized here) … */
  json?: unknown
  /** … or a body already serialized as JSON. */
  body?: string
  /** `auto` (default on POST etc.): the CSRF cookie's value, else the last token a body carried; `none`; or this value. */
  csrf?: 'auto' | 'none' | { value: string }
  /** `own` (default on POST etc.), `omit` (default on GET), or this Origin header. */
  origin?: 'own' | 'omit' | string
  /** Sec-Fetch-Site: `same-origin` by default, or `omit`. */
  site?: 'same-origin' | 'same-site' | 'cross-site' | 'omit'
  headers?: Record<string, string>
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** One browser profile: its cookies, and the CSRF token its page would send. */
export class Browser {
  constructor(
    private readonly ctx: AuditContext,
    readonly jar: CookieJar = new CookieJar(),
    /** The last CSRF token a response body carried (`csrfToken`, `csrf_token`, …). */
    public bodyCsrf?: string,
  ) {}

  clone(): Browser {
    return new Browser(this.ctx, this.jar.clone(), this.bodyCsrf)
  }

  /** The CSRF cookie's value as the page would read it, else the body's token. */
  csrfToken(): string | undefined {
    const name = this.ctx.options.csrf.cookie
    const cookie = this.jar.matching(new URL('/', this.ctx.origin)).find((c) => c.name === name) ?? this.jar.get(name)
    if (!cookie) return this.bodyCsrf
    // A page reads document.cookie and decodes it (Laravel's XSRF-TOKEN is URL-encoded), as the browser client does.
    try {
      return decodeURIComponent(cookie.value)
    } catch {
      return cookie.value
    }
  }

  /** Sets (or replaces) the CSRF cookie's value, keeping the attributes the server gave it. */
  setCsrfCookie(value: string): void {
    const name = this.ctx.options.csrf.cookie
    const current = this.jar.get(name)
    const host = new URL(this.ctx.origin).hostname
    this.jar.set(current ? { ...current, value } : { name, value, domain: host, hostOnly: true, path: '/', secure: true, httpOnly: false })
  }

  async send(label: string, method: string, path: string, o: SendOptions = {}): Promise<Exchange> {
    const url = new URL(path, this.ctx.origin)
    const unsafe = !SAFE.has(method)
    const h = new Headers({ accept: 'application/json, text/html;q=0.9, */*;q=0.8', 'user-agent': 'bastion-audit' })
    const site = o.site ?? 'same-origin'
    if (site !== 'omit') h.set('sec-fetch-site', site)
    const origin = o.origin ?? (unsafe ? 'own' : 'omit')
    if (origin === 'own') h.set('origin', this.ctx.origin)
    else if (origin !== 'omit') h.set('origin', origin)
    const csrf = o.csrf ?? (unsafe ? 'auto' : 'none')
    const token = csrf === 'auto' ? this.csrfToken() : csrf === 'none' ? undefined : csrf.value
    if (token !== undefined) h.set(this.ctx.options.csrf.header, token)
    for (const [k, v] of Object.entries(o.headers ?? {})) h.set(k, v)
    const cookie = this.jar.header(url)
    if (cookie) h.set('cookie', cookie)
    const body = o.body ?? (o.json !== undefined ? JSON.stringify(o.json) : undefined)
    if (body !== undefined && !h.has('content-type')) h.set('content-type', 'application/json')

    const exchange = await this.ctx.client.send(label, method, url, h, body)
    for (const raw of exchange.setCookies) {
      const parsed = parseSetCookie(raw)
      if (parsed) this.jar.store(parsed, url, exchange.at)
    }
    const json = exchange.json
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      for (const [k, v] of Object.entries(json)) if (/csrf|xsrf/i.test(k) && typeof v === 'string' && v) this.bodyCsrf = v
    }
    return exchange
  }
}

/** A short, safe rendering of a secret for evidence: its start and its length. */
export function excerpt(secret: string): string {
  return secret.length <= 12 ? `"${secret}"` : `"${secret.slice(0, 10)}…" (${secret.length} chars)`
}
