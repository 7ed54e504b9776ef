// Peer 2: Better Auth (email and password) on node:http with its own SQLite
// database (on the same SQLite driver as Bastion's store in this Node:
// better-sqlite3 or node:sqlite, both of which Better Auth takes), configured as its docs recommend for speed: the
// session cookie cache on (`session.cookieCache`, default "compact" strategy:
// a signed cookie holding the session, so `getSession` reads no database while
// the cache is fresh; maxAge raised to the whole run). Its handler is mounted
// with `toNodeHandler`; application routes call `auth.api.getSession` with
// `fromNodeHeaders(req.headers)`, as documented.
// Better Auth has no CSRF token for application routes: its defence is
// SameSite=Lax cookies plus an Origin check on its own endpoints. So
// /api/transfer here authenticates and checks the Origin against the trusted
// origins, which is what Better Auth itself does for its POST endpoints.
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { resolveSqliteDriver, sqliteDriverFromEnv } from '@bastion/server/sqlite'
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import { fromNodeHeaders, toNodeHandler } from 'better-auth/node'
import { benchDir, listen, makeBank, readJson } from './common.ts'

/** The native handle Better Auth wants (it tells a node:sqlite DatabaseSync from a better-sqlite3 Database by instanceof). */
interface NativeSqlite {
  exec(sql: string): unknown
}
const file = join(benchDir(), 'better-auth.sqlite')
const driver = resolveSqliteDriver(sqliteDriverFromEnv(process.env)).name
const db: NativeSqlite =
  driver === 'node:sqlite'
    ? new (process.getBuiltinModule('node:sqlite') as { DatabaseSync: new (file: string) => NativeSqlite }).DatabaseSync(file)
    : new (createRequire(import.meta.url)('better-sqlite3') as new (file: string) => NativeSqlite)(file)
db.exec('PRAGMA journal_mode = WAL')
let baseURL = 'http://127.0.0.1'
const options = {
  database: db,
  secret: 'peer-better-auth-secret-peer-better-auth-secret-0',
  baseURL: () => baseURL,
  emailAndPassword: { enabled: true },
  session: { cookieCache: { enabled: true, maxAge: 60 * 60 } },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { disabled: true },
}
const { runMigrations } = await getMigrations(options as never)
await runMigrations()
const transfer = makeBank()
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }

let auth: ReturnType<typeof betterAuth>
let authHandler: ReturnType<typeof toNodeHandler>

const server = createServer(async (req, res) => {
  const path = (req.url ?? '/').split('?')[0]!
  if (path.startsWith('/api/auth/')) return authHandler(req, res)
  if (path === '/api/public') return res.writeHead(200, JSON_HEADERS).end('{"hello":"world"}')
  if (path === '/api/me' || path === '/api/transfer') {
    const session = await auth.api.getSession({ headers: fromNodeHeaders(req.headers) })
    if (!session) return res.writeHead(401, JSON_HEADERS).end('{"error":{"code":"unauthenticated"}}')
    if (path === '/api/me') return res.writeHead(200, JSON_HEADERS).end(JSON.stringify({ user: { id: session.user.id, username: session.user.name } }))
    const origin = req.headers.origin
    if (origin !== undefined && origin !== baseURL) return res.writeHead(403, JSON_HEADERS).end('{"error":{"code":"forbidden_origin"}}')
    let body: unknown
    try {
      body = await readJson(req)
    } catch {
      return res.writeHead(400, JSON_HEADERS).end('{"error":{"code":"bad_request"}}')
    }
    const r = transfer(session.user.name, body)
    return res.writeHead(r.status, JSON_HEADERS).end(JSON.stringify(r.body))
  }
  res.writeHead(404, JSON_HEADERS).end('{"error":{"code":"not_found"}}')
})

listen(server, async (url) => {
  baseURL = url
  auth = betterAuth({ ...options, baseURL: url, trustedOrigins: [url] } as never) as unknown as ReturnType<typeof betterAuth>
  authHandler = toNodeHandler(auth)
  const creds = { email: 'alice@example.com', password: 'alice-password-1', name: 'alice' }
  const up = await fetch(`${url}/api/auth/sign-up/email`, { method: 'POST', headers: { 'content-type': 'application/json', origin: url }, body: JSON.stringify(creds) })
  if (!up.ok) throw new Error(`sign-up answered ${up.status}: ${await up.text()}`)
  const signIn = await fetch(`${url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ email: creds.email, password: creds.password }),
  })
  if (!signIn.ok) throw new Error(`sign-in answered ${signIn.status}: ${await signIn.text()}`)
  const cookie = signIn.headers.getSetCookie().map((c) => c.split(';')[0]!).join('; ')
  return { cookie, origin: url }
})
