/**
 * A small stand-in for the Bastion server, speaking the HTTP contract the
 * client relies on: CSRF double submit (raw cookie or "masked" body token),
 * token_expired on an expired access cookie, refresh-token rotation with
 * reuse refused, and counters the tests assert on.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'

export interface FakeServerOptions {
  csrfCookie?: string
  csrfHeader?: string
  /** Milliseconds POST /auth/refresh waits before answering (widens race windows). */
  refreshDelayMs?: number
  /** If set, sessions carry accessExpiresAt = now + this many ms. */
  accessTtlMs?: number
}

export interface LoggedRequest {
  method: string
  path: string
  csrf: string | undefined
  contentType: string | undefined
  body: string
}

interface ServerSession {
  id: string
  user: { id: string; username: string }
  refresh: string
  revoked: boolean
}

const token = () => randomBytes(12).toString('hex')
const mask = (raw: string) => 'm.' + raw

export async function startFakeServer(options: FakeServerOptions = {}) {
  const csrfCookie = options.csrfCookie ?? '__Host-csrf'
  const csrfHeader = (options.csrfHeader ?? 'X-CSRF-Token').toLowerCase()
  const users = new Map([['alice', { id: 'u1', username: 'alice', password: 'alice-password-1' }]])
  const sessions = new Map<string, ServerSession>()
  const access = new Map<string, { sid: string; expired: boolean }>()
  const log: LoggedRequest[] = []
  const state = {
    refreshCount: 0,
    csrfGets: 0,
    /** Answer the next N unsafe requests with 403 csrf_failed, whatever they carry. */
    csrfFailNext: 0,
    failRefresh: false,
  }

  const cookiesOf = (req: IncomingMessage) =>
    new Map(
      (req.headers.cookie ?? '')
        .split(/; */)
        .filter(Boolean)
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const),
    )

  const send = (res: ServerResponse, status: number, body?: unknown, cookies: string[] = []) => {
    if (cookies.length) res.setHeader('set-cookie', cookies)
    if (body === undefined) return void res.writeHead(status).end()
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const fail = (res: ServerResponse, status: number, code: string, cookies: string[] = []) =>
    send(res, status, { error: { code, message: code } }, cookies)

  const sessionView = (s: ServerSession) => ({
    id: s.id,
    expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    ...(options.accessTtlMs ? { accessExpiresAt: new Date(Date.now() + options.accessTtlMs).toISOString() } : {}),
  })

  /** Issues a new access token; returns its cookie. */
  const issueAccess = (sid: string) => {
    const value = token()
    access.set(value, { sid, expired: false })
    return `__Host-access=${value}; Path=/; HttpOnly`
  }
  const clearAll = [`__Host-access=; Max-Age=0`, `__Secure-refresh=; Max-Age=0`, `${csrfCookie}=; Max-Age=0`]

  /** The session an access cookie authenticates, or an error code. */
  const authenticate = (cookies: Map<string, string>): ServerSession | 'token_expired' | 'unauthenticated' => {
    const entry = access.get(cookies.get('__Host-access') ?? '')
    if (!entry) return 'unauthenticated'
    const session = sessions.get(entry.sid)
    if (!session || session.revoked) return 'unauthenticated'
    return entry.expired ? 'token_expired' : session
  }

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString()
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname
    const method = req.method ?? 'GET'
    const header = req.headers[csrfHeader]
    log.push({ method, path, csrf: typeof header == 'string' ? header : undefined, contentType: req.headers['content-type'], body })
    const cookies = cookiesOf(req)

    if (!/^(GET|HEAD|OPTIONS)$/.test(method)) {
      const raw = cookies.get(csrfCookie)
      const valid = !!raw && (header === raw || header === mask(raw))
      if (state.csrfFailNext > 0 || !valid) {
        state.csrfFailNext = Math.max(0, state.csrfFailNext - 1)
        return fail(res, 403, 'csrf_failed')
      }
    }

    if (method == 'GET' && path == '/auth/csrf') {
      state.csrfGets++
      const raw = cookies.get(csrfCookie) ?? token()
      return send(res, 200, { csrfToken: mask(raw) }, [`${csrfCookie}=${raw}; Path=/`])
    }
    if (method == 'POST' && path == '/auth/register') {
      const { username, password } = JSON.parse(body || '{}') as { username?: string; password?: string }
      if (!username || !password || users.has(username)) return fail(res, 400, 'bad_request')
      const user = { id: 'u' + (users.size + 1), username, password }
      users.set(username, user)
      return send(res, 201, { user: { id: user.id, username } })
    }
    if (method == 'POST' && path == '/auth/login') {
      const { username = '', password } = JSON.parse(body || '{}') as { username?: string; password?: string }
      const user = users.get(username)
      if (!user || user.password !== password) return fail(res, 401, 'invalid_credentials')
      const session: ServerSession = { id: 's' + token(), user: { id: user.id, username }, refresh: token(), revoked: false }
      sessions.set(session.id, session)
      const csrf = token() // rotated at login
      return send(res, 200, { user: session.user, session: sessionView(session), csrfToken: mask(csrf) }, [
        issueAccess(session.id),
        `__Secure-refresh=${session.refresh}; Path=/auth; HttpOnly`,
        `${csrfCookie}=${csrf}; Path=/`,
      ])
    }
    if (method == 'POST' && path == '/auth/refresh') {
      state.refreshCount++
      if (options.refreshDelayMs) await new Promise((r) => setTimeout(r, options.refreshDelayMs))
      const presented = cookies.get('__Secure-refresh')
      const session = [...sessions.values()].find((s) => !s.revoked && s.refresh === presented)
      if (!session || state.failRefresh) return fail(res, 401, 'unauthenticated', clearAll)
      session.refresh = token() // rotation: the old value is now refused
      return send(res, 200, { session: sessionView(session), csrfToken: mask(cookies.get(csrfCookie) ?? '') }, [
        issueAccess(session.id),
        `__Secure-refresh=${session.refresh}; Path=/auth; HttpOnly`,
      ])
    }
    if (method == 'POST' && path == '/auth/logout') {
      const session = [...sessions.values()].find((s) => s.refresh === cookies.get('__Secure-refresh'))
      if (session) session.revoked = true
      return send(res, 204, undefined, clearAll)
    }
    if (path == '/api/always-expired') return fail(res, 401, 'token_expired')

    const who = authenticate(cookies)
    if (typeof who == 'string') return fail(res, 401, who)

    if (method == 'GET' && path == '/auth/session') return send(res, 200, { user: who.user, session: sessionView(who) })
    if (method == 'GET' && path == '/auth/sessions')
      return send(res, 200, {
        sessions: [...sessions.values()]
          .filter((s) => !s.revoked && s.user.id == who.user.id)
          .map((s) => ({ ...sessionView(s), userAgent: null, createdAt: '', lastUsedAt: '', current: s === who })),
      })
    if (method == 'DELETE' && path.startsWith('/auth/sessions/')) {
      const target = sessions.get(decodeURIComponent(path.slice('/auth/sessions/'.length)))
      if (!target || target.user.id != who.user.id) return fail(res, 404, 'not_found')
      target.revoked = true
      return send(res, 204)
    }
    if (method == 'POST' && path == '/auth/logout-all') {
      for (const s of sessions.values()) if (s.user.id == who.user.id) s.revoked = true
      return send(res, 204, undefined, clearAll)
    }
    if (method == 'GET' && path == '/api/me') return send(res, 200, { user: who.user })
    if (path == '/api/echo') return send(res, 200, { method, body })
    return fail(res, 404, 'not_found')
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    state,
    log,
    sessions,
    /** Marks every issued access token expired (the next API call answers token_expired). */
    expireAccess() {
      for (const entry of access.values()) entry.expired = true
    },
    requests: (method: string, path: string) => log.filter((r) => r.method == method && r.path == path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export type FakeServer = Awaited<ReturnType<typeof startFakeServer>>
