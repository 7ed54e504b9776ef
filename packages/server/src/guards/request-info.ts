import type { ResolvedConfig } from '../config.ts'
import { BastionError } from '../errors.ts'
import { MAX_COOKIE_HEADER, parseCookies } from '../http/cookies.ts'
import { headerOf } from '../http/header-of.ts'

/**
 * What authentication needs of a request: its method, URL and headers, never
 * its body. A web `Request` is one; an adapter may pass a lighter view of its
 * framework's request so that guarding an application route costs no
 * `Request` construction.
 */
export interface RequestHead {
  readonly method: string
  readonly url: string
  readonly headers: { get(name: string): string | null; has(name: string): boolean }
}

/** What an adapter knows that a web Request does not carry. */
export interface RequestContext {
  /** The peer's address as the socket saw it. */
  remoteAddress?: string | null
}

export interface RequestInfo {
  /** The origin this server is reached at, as the browser sees it (worked out on first use: only unsafe requests need it). */
  ownOrigin(): string
  clientIp: string
  userAgent: string | null
  cookies: Map<string, string[]>
  unsafe: boolean
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
export const isUnsafeMethod = (method: string): boolean => method !== 'GET' && !SAFE_METHODS.has(method.toUpperCase())

function firstForwarded(value: string | null): string | undefined {
  return value?.split(',')[0]?.trim() || undefined
}

export function requestInfo(request: RequestHead, ctx: RequestContext, config: ResolvedConfig): RequestInfo {
  const cookieHeader = headerOf(request, 'cookie')
  if (cookieHeader && cookieHeader.length > MAX_COOKIE_HEADER) {
    throw new BastionError('bad_request', `Cookie header larger than ${MAX_COOKIE_HEADER} bytes.`)
  }
  let clientIp = ctx.remoteAddress ?? 'unknown'
  if (config.trustProxy) {
    // The last hop was added by our own proxy; anything to its left is the client's to forge.
    const hops = headerOf(request, 'x-forwarded-for')?.split(',').map((h) => h.trim()).filter(Boolean)
    const last = hops?.[hops.length - 1]
    if (last) clientIp = last
  }
  return new Info(request, config, clientIp, parseCookies(cookieHeader))
}

/**
 * One request's view. A class rather than an object of closures: it is built
 * for every guarded request, and what only the rare paths need (the own
 * origin, the User-Agent) is worked out on first use.
 */
class Info implements RequestInfo {
  readonly unsafe: boolean
  private origin: string | undefined
  private ua: string | null | undefined

  constructor(
    private readonly request: RequestHead,
    private readonly config: ResolvedConfig,
    readonly clientIp: string,
    readonly cookies: Map<string, string[]>,
  ) {
    this.unsafe = isUnsafeMethod(request.method)
    this.origin = config.publicOrigin
  }

  ownOrigin(): string {
    if (this.origin) return this.origin
    const { request, config } = this
    if (config.trustProxy) {
      const proto = firstForwarded(headerOf(request, 'x-forwarded-proto'))
      const host = firstForwarded(headerOf(request, 'x-forwarded-host'))
      if (proto && host && /^https?$/.test(proto)) return (this.origin = `${proto}://${host}`)
    }
    try {
      return (this.origin = new URL(request.url).origin)
    } catch {
      throw new BastionError('bad_request', 'Malformed Host header.')
    }
  }

  get userAgent(): string | null {
    if (this.ua === undefined) {
      const ua = headerOf(this.request, 'user-agent')
      this.ua = ua ? ua.slice(0, 512) : null
    }
    return this.ua
  }
}

/**
 * The value of an auth cookie, or undefined. Two cookies of one name mean one
 * was tossed in from a parent or sibling domain: refuse rather than guess.
 */
export function singleCookie(info: RequestInfo, name: string): string | undefined {
  const values = info.cookies.get(name)
  if (!values || values.length === 0) return undefined
  if (values.length > 1) {
    throw new BastionError('csrf_failed', `The request carries ${values.length} cookies named ${name}; refusing an ambiguous (possibly tossed) cookie.`)
  }
  const v = values[0]!
  return v.length > 0 && v.length <= 4096 ? v : undefined
}
