import { mkdtempSync, rmSync } from 'node:fs'
import type { IncomingMessage, Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBastion, type Bastion, type CreateBastionOptions } from '@bastion/server'
import { sqliteDriverFromEnv, sqliteStore } from '@bastion/server/sqlite'
import type { Store } from '@bastion/server'

export const ALICE = { username: 'alice', password: 'alice-password-1' }
export const TRANSFER_BODY = JSON.stringify({ to: 'mallory', amount: 1 })

/** A fresh directory for this server's files, removed when the server exits (it exits on the runner's SIGTERM). */
export function benchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The SQLite driver this server's store runs on (once it has one), reported in its ready line. */
let sqliteDriver: string | undefined

/**
 * Bastion for a bench server, configured from the environment the runner sets:
 * BENCH_STORE (sqlite | postgres, with BENCH_PG_URL and BENCH_PG_SCHEMA; on
 * SQLite, BASTION_SQLITE_DRIVER picks node:sqlite or better-sqlite3, and
 * BENCH_GROUP_COMMIT=0 commits each refresh rotation alone),
 * BENCH_ARGON2 (cheap | owasp), BENCH_LOGIN_LIMIT (login attempts per address
 * and account per window; default: the product's defaults), BENCH_TRUST_PROXY.
 * Access tokens outlive any run.
 */
export async function benchBastion(extra: Partial<CreateBastionOptions> = {}): Promise<{ bastion: Bastion; store: Store }> {
  const env = process.env
  let store: Store
  if (env.BENCH_STORE === 'postgres') {
    const { postgresStore } = await import('@bastion/server/postgres')
    store = postgresStore({ connectionString: env.BENCH_PG_URL!, schema: env.BENCH_PG_SCHEMA })
  } else {
    const sqlite = sqliteStore({ file: join(benchDir(), 'bastion.sqlite'), driver: sqliteDriverFromEnv(env), groupCommit: env.BENCH_GROUP_COMMIT !== '0' })
    sqliteDriver = sqlite.driver
    store = sqlite
  }
  const limit = env.BENCH_LOGIN_LIMIT ? Number(env.BENCH_LOGIN_LIMIT) : undefined
  const bastion = await createBastion({
    store,
    secret: 'bench-secret-bench-secret-bench-secret-0',
    accessTtl: 3600,
    // OWASP's argon2id (19 MiB, t=2) where hashing is what is measured; a cheap one elsewhere, so set-up is quick.
    argon2: env.BENCH_ARGON2 === 'owasp' ? undefined : { memoryCost: 1024, timeCost: 1, parallelism: 1 },
    trustProxy: env.BENCH_TRUST_PROXY === '1',
    // BENCH_ACCESS_FORMAT=jwe: the access cookie encrypted (the bastion-jwe group).
    accessToken: { format: env.BENCH_ACCESS_FORMAT === 'jwe' ? 'jwe' : 'jws' },
    ...(limit
      ? { rateLimit: { loginPerAddress: { max: limit, windowSeconds: 900 }, loginPerAccount: { max: limit, windowSeconds: 900 } } }
      : {}),
    log: (e) => {
      if (e.level === 'error') process.stderr.write(JSON.stringify(e) + '\n')
    },
    ...extra,
  })
  if (!(await bastion.findUser(ALICE.username))) await bastion.createUser(ALICE.username, ALICE.password)
  if (!(await bastion.findUser('mallory'))) await bastion.createUser('mallory', 'mallory-password-1')
  return { bastion, store }
}

/** What a signed-in browser carries to the API: its cookies and the CSRF token its page read. */
export interface BrowserSession {
  /** `__Host-access=…; __Host-csrf=…` (the refresh cookie is Path=/auth: not sent to /api). */
  cookie: string
  csrf: string
  /** The refresh cookie's value, for POST /auth/refresh. */
  refresh: string
}

/** Signs alice in over real HTTP as a browser does: GET /auth/csrf, then POST /auth/login. */
export async function browserLogin(url: string, creds = ALICE): Promise<BrowserSession> {
  const csrfRes = await fetch(`${url}/auth/csrf`)
  const pre = csrfRes.headers.getSetCookie()[0]!.split(';')[0]!
  const login = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: pre, 'x-csrf-token': pre.split('=')[1]! },
    body: JSON.stringify(creds),
  })
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${await login.text()}`)
  const jar = new Map(login.headers.getSetCookie().map((c) => c.split(';')[0]!.split(/=(.*)/s).slice(0, 2) as [string, string]))
  const access = jar.get('__Host-access')!
  const csrf = jar.get('__Host-csrf')!
  return { cookie: `__Host-access=${access}; __Host-csrf=${csrf}`, csrf, refresh: jar.get('__Secure-refresh')! }
}

/** A native client's bearer token (POST /auth/token). */
export async function bearerLogin(url: string): Promise<string> {
  const res = await fetch(`${url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ALICE) })
  if (res.status !== 200) throw new Error(`/auth/token answered ${res.status}`)
  return ((await res.json()) as { accessToken: string }).accessToken
}

/** The same transfer logic behind every stack: parse, validate, move one cent in memory. */
export function makeBank() {
  const balances = new Map<string, number>([
    ['alice', 1e15],
    ['mallory', 0],
  ])
  return (from: string, body: unknown): { status: number; body: unknown } => {
    const { to, amount } = (body ?? {}) as { to?: unknown; amount?: unknown }
    if (typeof to !== 'string' || !balances.has(to) || typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0) {
      return { status: 400, body: { error: { code: 'bad_request', message: 'Bad transfer.' } } }
    }
    const have = balances.get(from) ?? 0
    if (have < amount) return { status: 400, body: { error: { code: 'insufficient_funds', message: 'Not enough money.' } } }
    balances.set(from, have - amount)
    balances.set(to, balances.get(to)! + amount)
    return { status: 201, body: { transfer: { from, to, amount }, balance: have - amount } }
  }
}

/** Reads a small JSON body on bare node:http (bounded). */
export function readJson(req: IncomingMessage, max = 4096): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) reject(new Error('too large'))
      else chunks.push(c)
    })
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
      } catch (e) {
        reject(e)
      }
    })
    req.on('error', reject)
  })
}

/** Listens on loopback, then prints the ready line the runner waits for. */
export function listen(server: Server, extra: (url: string) => Promise<object> | object = () => ({})): void {
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', async () => {
    const { port } = server.address() as { port: number }
    const url = `http://127.0.0.1:${port}`
    try {
      const info = sqliteDriver === undefined ? {} : { sqliteDriver }
      process.stdout.write(JSON.stringify({ ready: true, url, pid: process.pid, ...info, ...(await extra(url)) }) + '\n')
    } catch (e) {
      process.stderr.write(`bench server failed to get ready: ${e instanceof Error ? e.stack : String(e)}\n`)
      process.exit(1)
    }
  })
  process.on('SIGTERM', () => process.exit(0))
}
