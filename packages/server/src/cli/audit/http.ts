/**
 * Every request the audit makes goes through one client: a hard cap on the
 * number of requests, a bound on the whole run's time, a timeout on each
 * request, no redirect followed behind the audit's back, and a log of every
 * exchange for the checks that read them afterwards (cookies, headers,
 * tokens in bodies).
 */

import { readCapped } from '../read-capped.ts'

export const MAX_REQUESTS = 100
export const MAX_TOTAL_MS = 60_000
/** A body is read up to this many bytes (an auth answer is a few hundred). */
const MAX_BODY_BYTES = 256 * 1024

/** The run must stop: the request cap or the time bound is reached. Checks not yet run are reported as not run. */
export class AuditStopped extends Error {}

/** One request got no answer (refused connection, DNS, timeout). */
export class RequestFailed extends Error {}

/** One request and its answer, as the audit saw it. */
export interface Exchange {
  /** What the audit was doing, e.g. `login`, `csrf-forged`. */
  label: string
  method: string
  url: URL
  /** The headers the audit sent (Cookie included). */
  sent: Headers
  status: number
  headers: Headers
  /** Each Set-Cookie header, as received. */
  setCookies: string[]
  text: string
  /** The body parsed as JSON, when it is JSON. */
  json: unknown
  /** When the answer arrived (epoch ms). */
  at: number
}

export interface Limits {
  maxRequests: number
  totalMs: number
  timeoutMs: number
}

function reason(e: unknown, timeoutMs: number): string {
  if (e instanceof Error) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`
    const cause = (e as Error & { cause?: unknown }).cause
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code
      return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message
    }
    return e.message
  }
  return String(e)
}

export class HttpClient {
  readonly log: Exchange[] = []
  readonly startedAt = Date.now()
  private count = 0

  constructor(readonly limits: Limits) {}

  get requests(): number {
    return this.count
  }

  elapsedMs(): number {
    return Date.now() - this.startedAt
  }

  remainingMs(): number {
    return this.limits.totalMs - this.elapsedMs()
  }

  async send(label: string, method: string, url: URL, headers: Headers, body?: string): Promise<Exchange> {
    if (this.count >= this.limits.maxRequests) throw new AuditStopped(`the cap of ${this.limits.maxRequests} requests was reached`)
    const remaining = this.remainingMs()
    if (remaining <= 0) throw new AuditStopped(`the time bound of ${Math.round(this.limits.totalMs / 1000)} s was reached`)
    this.count++
    const timeout = Math.min(this.limits.timeoutMs, remaining)
    let res: Response
    let text: string
    try {
      const signal = AbortSignal.timeout(timeout)
      res = await fetch(url, { method, headers, redirect: 'manual', signal, ...(body !== undefined ? { body } : {}) })
      text = await readCapped(res, MAX_BODY_BYTES)
    } catch (e) {
      if (this.remainingMs() <= 0) throw new AuditStopped(`the time bound of ${Math.round(this.limits.totalMs / 1000)} s was reached`)
      throw new RequestFailed(`${method} ${url.pathname}: ${reason(e, timeout)}`)
    }
    let json: unknown
    if (/json/i.test(res.headers.get('content-type') ?? '') || /^\s*[[{]/.test(text)) {
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
    }
    const exchange: Exchange = { label, method, url, sent: headers, status: res.status, headers: res.headers, setCookies: res.headers.getSetCookie(), text, json, at: Date.now() }
    this.log.push(exchange)
    return exchange
  }

  /** Waits, unless the wait would outlast the time bound. */
  async sleep(ms: number): Promise<void> {
    if (ms <= 0) return
    if (ms >= this.remainingMs() - 1_000) throw new AuditStopped(`waiting ${Math.ceil(ms / 1000)} s would pass the time bound`)
    await new Promise((r) => setTimeout(r, ms))
  }
}

/** A 2xx: the server did what was asked. */
export const accepted = (e: Exchange): boolean => e.status >= 200 && e.status < 300
/** A 4xx: the server said no. (3xx and 5xx prove neither.) */
export const refused = (e: Exchange): boolean => e.status >= 400 && e.status < 500

/** `403 {"error":{"code":"csrf_failed"}}` → `403 csrf_failed`, for evidence in a finding. */
export function statusLine(e: Exchange): string {
  const body = e.json as { error?: { code?: unknown } | string; code?: unknown } | undefined
  const code = typeof body?.error === 'object' ? body.error?.code : typeof body?.error === 'string' ? body.error : body?.code
  return `${e.status}${typeof code === 'string' ? ' ' + code.slice(0, 40) : ''}`
}
