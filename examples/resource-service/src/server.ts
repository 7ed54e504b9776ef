import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createVerifier, ServiceError, type VerifiedClaims, type Verifier, type VerifierOptions } from './verify.ts'

export interface ResourceServiceOptions extends VerifierOptions {
  /**
   * The cookie Bastion keeps the access token in, accepted on GET only (see
   * `tokenOf`). Default `__Host-access`; `null` accepts bearer tokens only.
   */
  accessCookie?: string | null
}

export interface ResourceService {
  /** A `node:http` request listener. */
  listener: http.RequestListener
  verifier: Verifier
}

export interface RunningService {
  url: string
  port: number
  server: http.Server
  verifier: Verifier
  close(): Promise<void>
}

const HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...HEADERS, ...headers, 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

function sendError(res: http.ServerResponse, e: ServiceError, presented: boolean): void {
  const headers: Record<string, string> = {}
  if (e.status === 401) {
    // RFC 6750 §3: no error code when the request carried no token at all.
    headers['WWW-Authenticate'] = !presented
      ? 'Bearer'
      : `Bearer error="invalid_token"${e.code === 'token_expired' ? ', error_description="The access token expired"' : ''}`
  }
  if (e.retryAfter !== undefined) headers['Retry-After'] = String(e.retryAfter)
  send(res, e.status, { error: { code: e.code, message: e.message } }, headers)
}

/** Every value of cookie `name` in a Cookie header (a browser may send two with one name). */
function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return []
  const out: string[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) out.push(part.slice(eq + 1).trim())
  }
  return out
}

/**
 * The token of a request: the Authorization header when there is one (and
 * then cookies are ignored, as in Bastion), else the access cookie on a safe
 * method. Returns null when the request carries neither.
 *
 * Why the cookie only on GET: a browser attaches cookies to requests that
 * other sites make it send. Bastion's own state-changing routes are safe
 * with a cookie because its guard checks Origin / Sec-Fetch-Site and an
 * `X-CSRF-Token` bound to the session by an HMAC under Bastion's secret. This
 * service has neither the secret nor that check, so a cookie-authenticated
 * POST here would be forgeable cross-site (CSRF). So this example offers no
 * state change at all; one added here must take a bearer token only (no
 * other site can make a browser attach one) or live behind `bastion.guard()`.
 * GET only reads (and CORS keeps its answer from other origins' scripts).
 */
function tokenOf(req: http.IncomingMessage, accessCookie: string | null): string | null {
  const authorization = req.headers.authorization
  if (authorization !== undefined) {
    const m = /^Bearer +([A-Za-z0-9_\-.]+)$/i.exec(authorization)
    if (!m) throw new ServiceError('unauthenticated', 'Authorization must be "Bearer <token>".')
    return m[1]!
  }
  if (accessCookie === null || (req.method !== 'GET' && req.method !== 'HEAD')) return null
  const values = cookieValues(req.headers.cookie, accessCookie)
  // One tossed in from a parent domain beside the real one: refuse, never guess which is real.
  if (values.length > 1) throw new ServiceError('unauthenticated', `Two ${accessCookie} cookies were sent.`)
  return values[0] || null
}

/** The example's resource: a user's orders (an empty list; the point is who may read it). */
function ordersOf(claims: VerifiedClaims) {
  return { user: { id: claims.sub, username: claims.preferred_username ?? null }, orders: [] as unknown[] }
}

/**
 * Builds the service: `GET /orders` answers the caller's orders once its
 * Bastion access token verifies against the JWKS.
 *
 * @example
 * ```ts
 * const { listener } = createResourceService({ jwksUrl, issuer: 'bastion', audience: 'bastion' })
 * http.createServer(listener).listen(4000)
 * ```
 */
export function createResourceService(options: ResourceServiceOptions): ResourceService {
  const verifier = createVerifier(options)
  const accessCookie = options.accessCookie === undefined ? '__Host-access' : options.accessCookie

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/orders') return send(res, 404, { error: { code: 'not_found', message: 'No such route.' } })
    // Only reads are offered: see tokenOf for why a cookie-authenticated state change would need Bastion's CSRF check.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 404, { error: { code: 'not_found', message: `/orders does not answer ${String(req.method).slice(0, 16)}.` } })
    }
    // Anything in Authorization counts as presented (so a malformed one says invalid_token).
    let presented = req.headers.authorization !== undefined
    try {
      const token = tokenOf(req, accessCookie)
      presented ||= token !== null
      if (token === null) throw new ServiceError('unauthenticated', 'Sign in first: send "Authorization: Bearer <access token>".')
      const claims = await verifier.verify(token)
      send(res, 200, ordersOf(claims))
    } catch (e) {
      if (e instanceof ServiceError) return sendError(res, e, presented)
      throw e
    }
  }

  const listener: http.RequestListener = (req, res) => {
    handle(req, res).catch(() => {
      // Never a stack trace, never a 500 that could be mistaken for "let through".
      if (!res.headersSent) send(res, 503, { error: { code: 'unavailable', message: 'The service cannot answer right now.' } })
      else res.destroy()
    })
  }
  return { listener, verifier }
}

/** Starts the service on `port` (0: any) and `host`; `close()` stops it. */
export async function startResourceService(options: ResourceServiceOptions & { port?: number; host?: string }): Promise<RunningService> {
  const { port = 0, host = '127.0.0.1', ...rest } = options
  const { listener, verifier } = createResourceService(rest)
  const server = http.createServer(listener)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()))
  const bound = (server.address() as AddressInfo).port
  const shown = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${shown}:${bound}`,
    port: bound,
    server,
    verifier,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
