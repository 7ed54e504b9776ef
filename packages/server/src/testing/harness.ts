/**
 * HTTP-level test harness: a real Bastion over real sockets (SQLite store in a
 * temp dir, or with BASTION_TEST_STORE=postgres a schema of its own on the test
 * PostgreSQL, so one behavioural suite runs on both; a tiny app behind it), a
 * controllable clock, and a `Browser` with a
 * cookie jar that behaves like Chromium where it matters (Max-Age deletion,
 * Path scoping, Sec-Fetch-Site / Origin on unsafe requests, the CSRF cookie
 * read by "page JavaScript" and echoed in the header).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { SignJWT, importJWK, type JWK, type JWTPayload } from 'jose'
import { afterAll, expect } from 'vitest'
import { toNodeListener } from '../adapters/node.ts'
import { createBastion, type Bastion, type CreateBastionOptions } from '../bastion.ts'
import { deriveKey, open } from '../crypto/secret.ts'
import { json } from '../http/respond.ts'
import type { Store } from '../store.ts'
import { sqliteStore } from '../stores/sqlite/index.ts'

export const SECRET = 'a'.repeat(40)
export const CHEAP_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 }
export const PASSWORD = 'correct-horse-battery'

/** A clock the server reads through `now`; tests move it instead of sleeping. */
export class Clock {
  t = Date.now()
  now = (): number => this.t
  advance(seconds: number): void {
    this.t += seconds * 1000
  }
}

/** Which access-cookie format the behavioural suites run on: `jws` (default) or `jwe` (`BASTION_TEST_ACCESS_FORMAT=jwe`). */
export const TEST_ACCESS_FORMAT: 'jws' | 'jwe' = process.env.BASTION_TEST_ACCESS_FORMAT === 'jwe' ? 'jwe' : 'jws'

export type ServerOptions = Partial<Omit<CreateBastionOptions, 'store' | 'now'>> & {
  /** Reuse another server's store (restarts, several instances): its `file`. Default: a fresh one. */
  file?: string
  clock?: Clock
}

/** Which store the behavioural suites run on: `sqlite` (default) or `postgres`. */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.BASTION_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite'

interface OpenedStore {
  store: Store
  /** What `file` names: a SQLite file, or a PostgreSQL schema. */
  location: string
  /** Removes what this call created (nothing when `location` was given). */
  remove(): Promise<void>
}

/** Stores this file created and has not removed yet: a server that was only stopped (to restart on its store) is removed at the end. */
const leftovers = new Set<() => Promise<void>>()
afterAll(async () => {
  for (const remove of leftovers) await remove().catch(() => {})
})

async function openStore(location: string | undefined): Promise<OpenedStore> {
  const opened = await openStoreOnce(location)
  if (location !== undefined) return opened
  const remove = async () => {
    leftovers.delete(remove)
    await opened.remove()
  }
  leftovers.add(remove)
  return { ...opened, remove }
}

async function openStoreOnce(location: string | undefined): Promise<OpenedStore> {
  if (TEST_STORE === 'postgres') {
    const { postgresStore } = await import('../stores/postgres/index.ts')
    const { TEST_DATABASE_URL, adminQuery } = await import('./services.ts')
    const schema = location ?? `bastion_h_${randomBytes(6).toString('hex')}`
    return {
      store: postgresStore({ connectionString: TEST_DATABASE_URL, schema }),
      location: schema,
      async remove() {
        if (location !== undefined) return
        await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      },
    }
  }
  const dir = location ? null : mkdtempSync(join(tmpdir(), 'bastion-http-'))
  const file = location ?? join(dir!, 'bastion.sqlite')
  return { store: sqliteStore({ file }), location: file, remove: async () => void (dir && rmSync(dir, { recursive: true, force: true })) }
}

export interface TestServer {
  bastion: Bastion
  store: Store
  clock: Clock
  url: string
  /** `http://127.0.0.1:<port>`: what a same-origin page sends in `Origin`. */
  origin: string
  port: number
  /** Where its store lives (a SQLite file or a PostgreSQL schema): pass as `file` to share it. */
  file: string
  secret: string
  /** Stops the socket server, the Bastion and the store (keeps the file). */
  stop(): Promise<void>
  /** stop() and removes the temp dir. */
  close(): Promise<void>
  /** A fresh browser pointed at this server. */
  browser(opts?: BrowserOptions): Browser
  /** Creates an account directly (no HTTP), returns its username. */
  user(name?: string, password?: string): Promise<string>
  /** Signs a JWT with the server's current private key (read from the store), for forged-token tests. */
  signWithServerKey(payload: JWTPayload, header?: Record<string, unknown>): Promise<string>
}

let seq = 0
export const uniqueName = (prefix = 'user'): string => `${prefix}${process.pid}x${++seq}`

/** The demo-like app: `/api/me`, `/api/echo` (POST, CSRF-guarded), `/api/public`. */
function appFor(getBastion: () => Bastion) {
  return async (request: Request, ctx: { remoteAddress?: string | null }): Promise<Response> => {
    const bastion = getBastion()
    const url = new URL(request.url)
    if (url.pathname === '/api/public' && request.method === 'GET') return json({ hello: 'world' })
    if (url.pathname === '/api/me' && request.method === 'GET') {
      const g = await bastion.guard(request, ctx)
      if (!g.ok) return g.response
      return json({ user: { id: g.identity.userId, username: g.identity.username }, sessionId: g.identity.sessionId, via: g.identity.via })
    }
    if (url.pathname === '/api/echo' && request.method === 'POST') {
      const g = await bastion.guard(request, ctx)
      if (!g.ok) return g.response
      const body = await request.text()
      return json({ ok: true, username: g.identity.username, via: g.identity.via, body })
    }
    return json({ error: { code: 'not_found', message: 'No such route.' } }, 404)
  }
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const { file: givenFile, clock = new Clock(), ...rest } = options
  const { store, location: file, remove } = await openStore(givenFile)
  const secret = rest.secret ?? SECRET
  let bastion: Bastion
  try {
    bastion = await createBastion({ store, secret, argon2: CHEAP_ARGON2, now: clock.now, accessToken: { format: TEST_ACCESS_FORMAT }, ...rest })
  } catch (e) {
    await store.close()
    await remove()
    throw e
  }
  const server = http.createServer(toNodeListener(bastion, appFor(() => bastion)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const origin = `http://127.0.0.1:${port}`
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await bastion.close()
    await store.close()
  }
  const ts: TestServer = {
    bastion,
    store,
    clock,
    url: origin,
    origin,
    port,
    file,
    secret,
    stop,
    async close() {
      await stop()
      await remove()
    },
    browser: (opts) => new Browser(ts, opts),
    async user(name = uniqueName(), password = PASSWORD) {
      await bastion.createUser(name, password)
      return name
    },
    async signWithServerKey(payload, header = {}) {
      const [row] = (await store.listKeys()).filter((k) => k.retiredAt === null).sort((a, b) => b.createdAt - a.createdAt)
      if (!row) throw new Error('the store holds no active key')
      const jwk = JSON.parse(open(deriveKey(secret, 'key-wrap'), row.sealedPrivateJwk, `key:${row.kid}`)) as JWK
      const key = await importJWK(jwk, row.alg)
      return await new SignJWT(payload).setProtectedHeader({ alg: row.alg, kid: row.kid, typ: 'at+jwt', ...header }).sign(key)
    },
  }
  return ts
}

// ---- responses ---------------------------------------------------------------

export interface Res {
  status: number
  headers: Headers
  text: string
  /** Parsed JSON body, or undefined. */
  body: any
  setCookies: string[]
}

export async function toRes(r: Response): Promise<Res> {
  const text = await r.text()
  let body: any
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    body = undefined
  }
  return { status: r.status, headers: r.headers, text, body, setCookies: r.headers.getSetCookie() }
}

/** The Set-Cookie line for `name`, or undefined. */
export const setCookieFor = (res: Res, name: string): string | undefined => res.setCookies.find((c) => c.startsWith(`${name}=`))

export const cookieValue = (line: string | undefined): string | undefined => line?.slice(line.indexOf('=') + 1).split(';')[0]

/** Decodes a JWT's parts without verifying. */
export function decodeJwt(token: string): { header: any; payload: any } {
  const [h, p] = token.split('.')
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) }
}

/** Sends raw bytes (for headers fetch refuses to send) and returns status line, headers and body. */
export function rawRequest(port: number, raw: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (d) => chunks.push(d))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const [head = '', body = ''] = text.split('\r\n\r\n')
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body })
    })
    socket.write(raw, 'latin1')
    socket.setTimeout(5000, () => socket.destroy())
  })
}

// ---- browser -------------------------------------------------------------------

interface JarCookie {
  name: string
  value: string
  path: string
  expiresAt: number
  httpOnly: boolean
  raw: string
}

export interface BrowserOptions {
  userAgent?: string
  /** Clock for cookie expiry; default real time (cookies effectively never expire in a test). */
  now?: () => number
}

export interface RequestOptions {
  body?: unknown
  /** Extra headers; a value of `null` removes a default one (Origin, Sec-Fetch-Site, the CSRF header). */
  headers?: Record<string, string | null>
  /** Add the CSRF header from the CSRF cookie on unsafe requests (what the client library does). Default true. */
  csrf?: boolean
}

const UNSAFE = (m: string) => !['GET', 'HEAD', 'OPTIONS'].includes(m.toUpperCase())

/**
 * A browser on the server's origin. Cookies are keyed by name and path as a
 * real jar does; `Max-Age=0` deletes; a cookie is sent only under its Path.
 */
export class Browser {
  readonly jar = new Map<string, JarCookie>()
  readonly userAgent: string
  private readonly now: () => number
  csrfHeaderName = 'X-CSRF-Token'
  csrfCookieName = '__Host-csrf'
  /** Last response, for debugging. */
  last: Res | undefined

  constructor(
    readonly server: { url: string; origin: string },
    opts: BrowserOptions = {},
  ) {
    this.userAgent = opts.userAgent ?? `Mozilla/5.0 (TestBrowser ${++seq}) Chrome/130`
    this.now = opts.now ?? Date.now
  }

  /** Value of a cookie the jar would hold (any path). */
  cookie(name: string): string | undefined {
    for (const c of this.jar.values()) if (c.name === name && c.expiresAt > this.now()) return c.value
    return undefined
  }

  setCookie(name: string, value: string, path = '/'): void {
    this.jar.set(`${name};${path}`, { name, value, path, expiresAt: Infinity, httpOnly: false, raw: `${name}=${value}` })
  }

  deleteCookie(name: string): void {
    for (const [k, c] of this.jar) if (c.name === name) this.jar.delete(k)
  }

  /** The Cookie header this browser would send to `path`. */
  cookieHeader(path: string): string {
    const t = this.now()
    const out: JarCookie[] = []
    for (const [k, c] of this.jar) {
      if (c.expiresAt <= t) {
        this.jar.delete(k)
        continue
      }
      const under = c.path === '/' || path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)
      if (under) out.push(c)
    }
    // Longer paths first, as browsers order them.
    out.sort((a, b) => b.path.length - a.path.length)
    return out.map((c) => `${c.name}=${c.value}`).join('; ')
  }

  absorb(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';').map((s) => s.trim())
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const value = pair.slice(eq + 1)
      let path = '/'
      let maxAge: number | undefined
      let httpOnly = false
      for (const a of attrs) {
        const [k = '', v = ''] = a.split('=')
        const key = k.toLowerCase()
        if (key === 'path') path = v
        else if (key === 'max-age') maxAge = Number(v)
        else if (key === 'httponly') httpOnly = true
      }
      const key = `${name};${path}`
      if (maxAge !== undefined && maxAge <= 0) {
        this.jar.delete(key)
        continue
      }
      this.jar.set(key, { name, value, path, expiresAt: maxAge === undefined ? Infinity : this.now() + maxAge * 1000, httpOnly, raw: line })
    }
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Res> {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, 'Sec-Fetch-Site': 'same-origin' }
    if (UNSAFE(method)) headers['Origin'] = this.server.origin
    if (UNSAFE(method) && opts.csrf !== false) {
      const token = this.cookie(this.csrfCookieName)
      if (token) headers[this.csrfHeaderName] = token
    }
    const cookie = this.cookieHeader(path.split('?')[0]!)
    if (cookie) headers['Cookie'] = cookie
    let body: string | undefined
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
      headers['Content-Type'] = 'application/json'
    }
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      for (const existing of Object.keys(headers)) if (existing.toLowerCase() === k.toLowerCase()) delete headers[existing]
      if (v !== null) headers[k] = v
    }
    const res = await toRes(await fetch(this.server.url + path, { method, headers, body }))
    this.absorb(res.setCookies)
    this.last = res
    return res
  }

  get(path: string, opts?: RequestOptions) {
    return this.request('GET', path, opts)
  }

  post(path: string, body?: unknown, opts: RequestOptions = {}) {
    return this.request('POST', path, { ...opts, body })
  }

  /** GET /auth/csrf; returns the (masked) token from the body. */
  async csrf(): Promise<string> {
    const res = await this.get('/auth/csrf')
    if (res.status !== 200) throw new Error(`csrf: ${res.status} ${res.text}`)
    return res.body.csrfToken as string
  }

  async register(username: string, password = PASSWORD): Promise<Res> {
    if (!this.cookie(this.csrfCookieName)) await this.csrf()
    return this.post('/auth/register', { username, password })
  }

  /** Like the client library: fetches a CSRF token first if the jar has none. */
  async login(username: string, password = PASSWORD): Promise<Res> {
    if (!this.cookie(this.csrfCookieName)) await this.csrf()
    return this.post('/auth/login', { username, password })
  }

  /** login() that must succeed. */
  async signIn(username: string, password = PASSWORD): Promise<Res> {
    const res = await this.login(username, password)
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`)
    return res
  }

  refresh(opts?: RequestOptions) {
    return this.request('POST', '/auth/refresh', opts)
  }

  logout(opts?: RequestOptions) {
    return this.request('POST', '/auth/logout', opts)
  }

  me(opts?: RequestOptions) {
    return this.get('/api/me', opts)
  }

  echo(body: unknown = { hello: 1 }, opts?: RequestOptions) {
    return this.post('/api/echo', body, opts)
  }
}

/** A native (non-browser) client: no cookies, no Sec-Fetch-*. */
export async function nativeRequest(server: { url: string }, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...opts.headers }
  return toRes(
    await fetch(server.url + path, { method, headers, body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }),
  )
}

/** Every error body has exactly the contract's shape and no stack trace. */
export function errorShapeProblems(res: Res): string[] {
  const problems: string[] = []
  const e = res.body?.error
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string') problems.push(`not {error:{code,message}}: ${res.text.slice(0, 200)}`)
  if (/\bat [^\s]+ \(|\n\s+at /.test(res.text)) problems.push('stack trace in body')
  if (!/^application\/json/.test(res.headers.get('content-type') ?? '')) problems.push(`content-type ${res.headers.get('content-type')}`)
  return problems
}

/** Asserts status, error code and the error body's shape. */
export function expectError(res: Res, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.error?.code }, res.text.slice(0, 300)).toEqual({ status, code })
  expect(errorShapeProblems(res)).toEqual([])
}
