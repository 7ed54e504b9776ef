/**
 * The header rules of the gateway, written once: what a proxied request may
 * carry upstream and what an upstream answer may carry back to the browser.
 */

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the non-standard ones proxies still meet. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/**
 * Headers whose meaning is the proxy's to state, never the client's to pass
 * through: the forwarding chain (set afresh below), the framing fetch works
 * out itself, and the headers that carry the browser's credentials.
 */
const REQUEST_DROPPED = ['host', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-prefix', 'x-real-ip', 'cookie', 'authorization', 'expect']

/** Set upstream by the gateway's own CORS answer, not the upstream's: its `Access-Control-*` would apply to Bastion's origin. */
const RESPONSE_DROPPED_PREFIXES = ['access-control-']

/** Codings fetch (undici) decodes itself: the bytes handed on are no longer encoded. */
const DECODED_BY_FETCH = new Set(['gzip', 'x-gzip', 'deflate', 'br'])

/** Removes the hop-by-hop fields and every field the `Connection` header names (RFC 9110 §7.6.1). */
export function stripHopByHop(headers: Headers): void {
  const named = (headers.get('connection') ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean)
  for (const name of [...HOP_BY_HOP, ...named]) {
    try {
      headers.delete(name)
    } catch {
      // A token that is no header name (e.g. with spaces) names nothing to remove.
    }
  }
}

export interface ForwardedFor {
  /**
   * The `X-Forwarded-For` to send: the client's address, or (with `trustProxy`)
   * the chain the trusted proxy in front sent. Never what an untrusted client wrote.
   */
  for: string
  /** The public origin the browser used, e.g. `https://app.example.com`. */
  publicOrigin: string
  /** The gateway's prefix, e.g. `/gateway`, so the upstream can build its own links. */
  prefix: string
}

export interface UpstreamRequestHeadersOptions {
  /** The bearer token for the upstream (a short-lived JWT Bastion signed for it). */
  bearer: string
  /** Header names that carry browser credentials besides Cookie and Authorization, e.g. the CSRF header. */
  alsoDrop: readonly string[]
  forwarded: ForwardedFor
}

/**
 * What goes upstream: the browser's headers without hop-by-hop fields,
 * without its cookies, CSRF token or Authorization, with a fresh
 * `Authorization: Bearer` and a forwarding chain the gateway states itself.
 * The drop happens after the `Connection`-named removal, so a client naming
 * `Authorization` or `X-Forwarded-For` in `Connection` removes nothing the
 * gateway sets.
 */
export function upstreamRequestHeaders(incoming: Headers, options: UpstreamRequestHeadersOptions): Headers {
  const headers = new Headers(incoming)
  stripHopByHop(headers)
  for (const name of [...REQUEST_DROPPED, ...options.alsoDrop]) headers.delete(name)
  // fetch decodes a compressed answer but keeps its Content-Encoding; asking for none keeps the two honest.
  headers.set('accept-encoding', 'identity')
  const { forwarded } = options
  const origin = new URL(forwarded.publicOrigin)
  headers.set('x-forwarded-for', forwarded.for)
  headers.set('x-forwarded-proto', origin.protocol.slice(0, -1))
  headers.set('x-forwarded-host', origin.host)
  headers.set('x-forwarded-prefix', forwarded.prefix)
  headers.set('authorization', `Bearer ${options.bearer}`)
  return headers
}

export interface BrowserResponseHeadersOptions {
  /** Cookie names the upstream may never set (Bastion's own), compared case-insensitively. */
  protectedCookies: readonly string[]
  /** The upstream's origin, e.g. `http://127.0.0.1:4000`, and the public base its paths live under. */
  upstreamOrigin: string
  publicBase: string
}

/** The name of the cookie a `Set-Cookie` line sets. */
export function setCookieName(line: string): string {
  const eq = line.indexOf('=')
  const semi = line.indexOf(';')
  const end = eq < 0 || (semi >= 0 && semi < eq) ? -1 : eq
  return (end < 0 ? '' : line.slice(0, end)).trim()
}

/**
 * What the browser gets of an upstream answer: no hop-by-hop fields, no
 * `Set-Cookie` for an auth cookie name (an upstream must not be able to plant
 * or clear a session), no `Access-Control-*` (CORS is Bastion's), no
 * encoding fetch already undid, and a `Location` into the upstream mapped
 * back under the prefix.
 */
export function browserResponseHeaders(upstream: Headers, options: BrowserResponseHeadersOptions): { headers: Headers; droppedCookies: string[] } {
  const headers = new Headers()
  const hop = new Headers(upstream)
  stripHopByHop(hop)
  hop.forEach((value, name) => {
    if (name === 'set-cookie') return
    if (RESPONSE_DROPPED_PREFIXES.some((p) => name.startsWith(p))) return
    headers.append(name, value)
  })
  const encoding = (headers.get('content-encoding') ?? '').trim().toLowerCase()
  if (DECODED_BY_FETCH.has(encoding)) {
    headers.delete('content-encoding')
    headers.delete('content-length')
  }
  const banned = new Set(options.protectedCookies.map((n) => n.toLowerCase()))
  const droppedCookies: string[] = []
  for (const line of upstream.getSetCookie()) {
    const name = setCookieName(line)
    if (name === '' || banned.has(name.toLowerCase())) droppedCookies.push(name)
    else headers.append('set-cookie', line)
  }
  const location = headers.get('location')
  if (location !== null) headers.set('location', mapLocation(location, options.upstreamOrigin, options.publicBase))
  return { headers, droppedCookies }
}

/** A redirect into the upstream, absolute or root-relative, points at the same place under the gateway's prefix. */
export function mapLocation(location: string, upstreamOrigin: string, publicBase: string): string {
  if (location.startsWith(upstreamOrigin + '/') || location === upstreamOrigin) return publicBase + location.slice(upstreamOrigin.length)
  if (location.startsWith('/') && !location.startsWith('//')) return publicBase + location
  return location
}
