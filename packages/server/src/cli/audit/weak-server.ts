/**
 * A deliberately weak auth server for the audit's tests, in plain
 * `node:http`: every mistake the audit looks for, made on purpose.
 *
 *   - the access JWT (HS256, secret "secret", no typ, no kid, 24 h) and the
 *     refresh token are returned in the login and refresh bodies, and the JWT
 *     again in an `X-Access-Token` header;
 *   - cookies without HttpOnly, Secure or SameSite, the access cookie for 30
 *     days, the refresh cookie on Path=/;
 *   - a CSRF cookie (`XSRF-TOKEN`) handed out and never checked; no Origin or
 *     Sec-Fetch-Site check;
 *   - CORS that reflects any Origin with credentials, preflights included;
 *   - a pre-login session id (`sid`) that login adopts (session fixation);
 *   - a refresh that never rotates the refresh token;
 *   - a logout that clears the cookies but revokes nothing;
 *   - no security header at all (no CSP, frame options, nosniff, no-store).
 */
import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'

export interface WeakServer {
  url: string
  /** Requests received so far. */
  requests(): number
  /** Transfers the server carried out (every one it was sent: it checks nothing). */
  transfers(): number
  close(): Promise<void>
}

const SECRET = 'secret'
const USERS: Record<string, string> = { alice: 'alice-password-1', mallory: 'mallory-password-1' }

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

function sign(username: string): string {
  const now = Math.floor(Date.now() / 1000)
  const head = `${b64({ alg: 'HS256' })}.${b64({ sub: username, iat: now, exp: now + 24 * 3600 })}`
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`
}

function verify(token: string | undefined): string | undefined {
  const [h, p, s] = (token ?? '').split('.')
  if (!h || !p || !s || createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url') !== s) return undefined
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { sub?: string; exp?: number }
  return claims.exp !== undefined && claims.exp * 1000 > Date.now() ? claims.sub : undefined
}

function cookies(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim()
  }
  return out
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  try {
    const v: unknown = JSON.parse(text)
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

export async function startWeakServer(): Promise<WeakServer> {
  const sessions = new Map<string, string>() // sid → username (adopted at login)
  const refreshTokens = new Map<string, string>() // refresh token → username (never revoked)
  let requests = 0
  let transfers = 0

  const server = createServer(async (req, res: ServerResponse) => {
    requests++
    const url = new URL(req.url ?? '/', 'http://weak')
    const jar = cookies(req)
    const origin = req.headers.origin
    // CORS: whatever asks, with credentials.
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin)
      res.setHeader('Access-Control-Allow-Credentials', 'true')
    }
    const json = (status: number, value: unknown, headers: Record<string, string | string[]> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
      res.end(JSON.stringify(value))
    }
    const user = () => verify(jar.token) ?? (jar.sid ? sessions.get(jar.sid) : undefined)
    const route = `${req.method} ${url.pathname}`

    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE', 'Access-Control-Allow-Headers': String(req.headers['access-control-request-headers'] ?? '*') })
      return res.end()
    }
    if (route === 'GET /') {
      res.writeHead(200, { 'Content-Type': 'text/html' })
      return res.end('<!doctype html><title>weak</title><form method="post" action="/api/transfer"><button>Send</button></form>')
    }
    if (route === 'GET /auth/csrf') {
      const token = jar['XSRF-TOKEN'] ?? randomBytes(16).toString('hex')
      const set = [`XSRF-TOKEN=${token}; Path=/`]
      if (!jar.sid) set.push(`sid=${randomBytes(16).toString('hex')}; Path=/`)
      return json(200, { csrfToken: token }, { 'Set-Cookie': set })
    }
    if (route === 'POST /auth/login') {
      const { username, password } = await body(req)
      if (typeof username !== 'string' || USERS[username] !== password) return json(401, { error: 'invalid_credentials' })
      if (jar.sid) sessions.set(jar.sid, username) // adopts the id the browser brought
      const accessToken = sign(username)
      const refreshToken = randomBytes(24).toString('base64url')
      refreshTokens.set(refreshToken, username)
      return json(200, { user: { username }, accessToken, refreshToken }, {
        'X-Access-Token': accessToken,
        'Set-Cookie': [`token=${accessToken}; Path=/; Max-Age=${30 * 86400}`, `refresh=${refreshToken}; Path=/`],
      })
    }
    if (route === 'POST /auth/refresh') {
      const username = jar.refresh ? refreshTokens.get(jar.refresh) : undefined
      if (!username) return json(401, { error: 'unauthenticated' })
      const accessToken = sign(username)
      // The same refresh token again: no rotation.
      return json(200, { accessToken }, { 'Set-Cookie': [`token=${accessToken}; Path=/; Max-Age=${30 * 86400}`, `refresh=${jar.refresh}; Path=/`] })
    }
    if (route === 'POST /auth/logout') {
      // Clears the browser's cookies; the tokens and the session stay valid on the server.
      res.writeHead(204, { 'Set-Cookie': ['token=; Path=/; Max-Age=0', 'refresh=; Path=/; Max-Age=0'] })
      return res.end()
    }
    if (route === 'GET /auth/session' || route === 'GET /api/me') {
      const username = user()
      return username ? json(200, { user: { username } }) : json(401, { error: 'unauthenticated' })
    }
    if (route === 'POST /api/transfer') {
      const username = user()
      if (!username) return json(401, { error: 'unauthenticated' })
      await body(req)
      transfers++
      return json(200, { ok: true, from: username })
    }
    json(404, { error: 'not_found' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}/`,
    requests: () => requests,
    transfers: () => transfers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
