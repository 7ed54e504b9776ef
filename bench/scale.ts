/**
 * `npm run bench -- scale`: does Bastion stay flat as the number of live
 * sessions grows? On SQLite and on PostgreSQL, in one run:
 *
 * - sessions seeded in bulk by SQL (a million logins would measure argon2),
 * - at 1 thousand and at 1 million live sessions: refresh throughput and
 *   p50/p99 (16 refreshes in flight), GET /auth/sessions, revoking one session;
 * - a revoke-all (one write);
 * - prune of a million expired sessions: how long, and the p99 of store-reading
 *   requests (GET /auth/session) served while it runs, against the same
 *   requests idle;
 * - bytes on disk (tables + indexes) before and after 1,000 refreshes of one session.
 *
 * Bastion runs in this process and is called through `handle` (no sockets):
 * the figures are the core and the store, the part that could grow with the
 * session count. Every loop is bounded in count and in time.
 *
 *   npm run bench -- scale                 1k and 1M
 *   npm run bench -- scale --smoke         1k and 20k (for CI: that it runs)
 *   BENCH_SCALE_STORES=sqlite              one store only
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { createBastion, type Bastion, type Store } from '@bastion/server'
import { openSqlite, sqliteStore } from '@bastion/server/sqlite'

const argv = process.argv.slice(2)
const SMOKE = argv.includes('--smoke')
const SMALL = 1_000
const LARGE = SMOKE ? 20_000 : 1_000_000
const STORES = (process.env.BENCH_SCALE_STORES ?? 'sqlite,postgres').split(',')
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REFRESH_SECONDS = SMOKE ? 0.5 : 4
const IN_FLIGHT = 16
const ORIGIN = 'http://localhost'
const out = (s: string) => process.stdout.write(s)

// ---- the store under test ------------------------------------------------------------

interface Target {
  name: 'sqlite' | 'postgres'
  store: Store & { prune(now: number): Promise<number> }
  /** Runs SQL on the store's database from a connection of its own. */
  sql(text: string): Promise<void>
  /** Bytes of the session tables and their indexes, on disk. */
  bytes(): Promise<number>
  close(): Promise<void>
}

const SESSION_COLUMNS =
  'id, user_id, kind, created_at, last_used_at, expires_at, refresh_expires_at, user_agent, ip, revoked_at, revoked_reason, generation, token_salt, rotated_at'
const UA = "'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36'"

async function sqliteTarget(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-scale-'))
  const file = join(dir, 'bastion.sqlite')
  const store = sqliteStore({ file })
  await store.migrate()
  const db = openSqlite(file)
  return {
    name: 'sqlite',
    store,
    async sql(text) {
      db.exec(text)
    },
    async bytes() {
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      const page = Number(db.prepare('PRAGMA page_size').get<{ page_size: number }>()!.page_size)
      // The whole file: the session tables and their indexes are nearly all of it.
      const pages = Number(db.prepare('PRAGMA page_count').get<{ page_count: number }>()!.page_count)
      const free = Number(db.prepare('PRAGMA freelist_count').get<{ freelist_count: number }>()!.freelist_count)
      return (pages - free) * page
    },
    async close() {
      db.close()
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function postgresTarget(): Promise<Target> {
  const { postgresStore } = await import('@bastion/server/postgres')
  const name = `bench_scale_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  const store = postgresStore({ connectionString: url.toString() })
  await store.migrate()
  const client = new pg.Client({ connectionString: url.toString() })
  await client.connect()
  return {
    name: 'postgres',
    store,
    async sql(text) {
      await client.query(text)
    },
    async bytes() {
      await client.query('VACUUM sessions, refresh_tokens')
      const { rows } = await client.query<{ n: string }>(
        "SELECT pg_total_relation_size('sessions') + pg_total_relation_size('refresh_tokens') AS n",
      )
      return Number(rows[0]!.n)
    },
    async close() {
      await client.end()
      await store.close()
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    },
  }
}

/** `count` sessions of 100,000 other users, live (or long expired), inserted by one statement. */
async function seed(t: Target, from: number, count: number, now: number, expired = false): Promise<number> {
  const started = performance.now()
  const created = expired ? now - 40 * 86_400_000 : now - 60_000
  const ends = expired ? `${now - 10 * 86_400_000}, ${now - 10 * 86_400_000}` : `${now + 30 * 86_400_000}, ${now + 14 * 86_400_000}`
  const prefix = expired ? 'x' : 's'
  if (t.name === 'sqlite') {
    await t.sql(`BEGIN; WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${from + count - 1})
      INSERT INTO sessions (${SESSION_COLUMNS})
      SELECT printf('${prefix}%023d', i), 'user-' || (i % 100000), 'cookie', ${created}, ${created}, ${ends}, ${UA}, '10.0.0.1',
        NULL, NULL, 3, hex(randomblob(16)), ${created} FROM n; COMMIT`)
  } else {
    await t.sql(`INSERT INTO sessions (${SESSION_COLUMNS})
      SELECT '${prefix}' || lpad(i::text, 23, '0'), 'user-' || (i % 100000), 'cookie', ${created}, ${created}, ${ends}, ${UA}, '10.0.0.1',
        NULL, NULL, 3, md5(random()::text), ${created} FROM generate_series(${from}, ${from + count - 1}) AS i;
      ANALYZE sessions`)
  }
  return (performance.now() - started) / 1000
}

// ---- a browser, as Requests to handle() ----------------------------------------------

interface Jar {
  cookies: Map<string, string>
}

function absorb(jar: Jar, res: Response) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';')
    const i = pair!.indexOf('=')
    const value = pair!.slice(i + 1)
    if (/Max-Age=0/.test(line)) jar.cookies.delete(pair!.slice(0, i))
    else jar.cookies.set(pair!.slice(0, i), value)
  }
}

function request(jar: Jar, method: string, path: string, body?: unknown): Request {
  const headers: Record<string, string> = {
    cookie: [...jar.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    origin: ORIGIN,
    'sec-fetch-site': 'same-origin',
  }
  const csrf = jar.cookies.get('__Host-csrf')
  if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf
  if (body !== undefined) headers['content-type'] = 'application/json'
  return new Request(`${ORIGIN}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
}

async function call(bastion: Bastion, jar: Jar, method: string, path: string, body?: unknown): Promise<Response> {
  const res = (await bastion.handle(request(jar, method, path, body)))!
  absorb(jar, res)
  return res
}

async function signIn(bastion: Bastion): Promise<Jar> {
  const jar: Jar = { cookies: new Map() }
  await call(bastion, jar, 'GET', '/auth/csrf')
  const res = await call(bastion, jar, 'POST', '/auth/login', { username: 'alice', password: 'alice-password-1' })
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`)
  return jar
}

// ---- measurements ----------------------------------------------------------------------

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN
}

interface Latencies {
  perSecond: number
  p50: number
  p99: number
  n: number
}

/** Refreshes with IN_FLIGHT chains (each its own session) for REFRESH_SECONDS, at most 50,000. */
async function refreshes(bastion: Bastion, jars: Jar[]): Promise<Latencies> {
  const lat: number[] = []
  const started = performance.now()
  const until = started + REFRESH_SECONDS * 1000
  await Promise.all(
    jars.slice(0, IN_FLIGHT).map(async (jar) => {
      while (performance.now() < until && lat.length < 50_000) {
        const t = performance.now()
        const res = await call(bastion, jar, 'POST', '/auth/refresh')
        if (res.status !== 200) throw new Error(`refresh answered ${res.status}: ${await res.text()}`)
        lat.push(performance.now() - t)
      }
    }),
  )
  return { perSecond: lat.length / ((performance.now() - started) / 1000), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), n: lat.length }
}

/** One request at a time, `count` times (at most `seconds`). */
async function sequential(count: number, seconds: number, one: () => Promise<Response>): Promise<Latencies> {
  const lat: number[] = []
  const started = performance.now()
  while (lat.length < count && performance.now() - started < seconds * 1000) {
    const t = performance.now()
    const res = await one()
    if (res.status >= 300) throw new Error(`answered ${res.status}: ${await res.text()}`)
    lat.push(performance.now() - t)
  }
  return { perSecond: lat.length / ((performance.now() - started) / 1000), p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), n: lat.length }
}

interface AtSize {
  sessions: number
  seedSeconds: number
  refresh: Latencies
  listSessions: Latencies
  revokeOne: Latencies
}

interface StoreResult {
  store: string
  sizes: AtSize[]
  revokeAllMs: number
  prune: { sessions: number; seconds: number; idle: Latencies; during: Latencies }
  bytes: { before: number; after: number; refreshes: number }
}

async function measureStore(make: () => Promise<Target>): Promise<StoreResult> {
  const t = await make()
  try {
    const bastion = await createBastion({
      store: t.store,
      secret: 'bench-secret-bench-secret-bench-secret-0',
      accessTtl: 3600,
      argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
      rateLimit: { loginPerAddress: { max: 1e6, windowSeconds: 900 }, loginPerAccount: { max: 1e6, windowSeconds: 900 } },
      log: (e) => {
        if (e.level === 'error') process.stderr.write(JSON.stringify(e) + '\n')
      },
    })
    try {
      await bastion.createUser('alice', 'alice-password-1')
      // alice's devices: the refresh chains, and the list GET /auth/sessions answers.
      const jars: Jar[] = []
      for (let i = 0; i < 40; i++) jars.push(await signIn(bastion))
      const sizes: AtSize[] = []
      let seeded = 0
      for (const size of [SMALL, LARGE]) {
        const seedSeconds = await seed(t, seeded, size - seeded - jars.length, Date.now())
        seeded = size - jars.length
        out(`  ${t.name}: ${size.toLocaleString('en')} live sessions (seeded in ${seedSeconds.toFixed(1)} s)\n`)
        const refresh = await refreshes(bastion, jars)
        const listSessions = await sequential(300, 5, () => call(bastion, jars[0]!, 'GET', '/auth/sessions'))
        // Revoke sessions made for it, one at a time.
        const victims: string[] = []
        for (let i = 0; i < 20; i++) {
          const v = await signIn(bastion)
          const who = await call(bastion, v, 'GET', '/auth/session')
          victims.push(((await who.json()) as { session: { id: string } }).session.id)
        }
        const revokeOne = await sequential(victims.length, 10, () => call(bastion, jars[0]!, 'DELETE', `/auth/sessions/${victims.shift()}`))
        sizes.push({ sessions: size, seedSeconds, refresh, listSessions, revokeOne })
        out(`    refresh ${refresh.perSecond.toFixed(0)}/s p50 ${refresh.p50.toFixed(2)} ms p99 ${refresh.p99.toFixed(2)} ms; ` +
          `GET /auth/sessions p99 ${listSessions.p99.toFixed(2)} ms; revoke one p99 ${revokeOne.p99.toFixed(2)} ms\n`)
      }

      // Bytes on disk: one session refreshed 1,000 times.
      const one = await signIn(bastion)
      const before = await t.bytes()
      for (let i = 0; i < 1000; i++) {
        const res = await call(bastion, one, 'POST', '/auth/refresh')
        if (res.status !== 200) throw new Error(`refresh answered ${res.status}`)
      }
      const after = await t.bytes()
      out(`    1,000 refreshes of one session: ${before.toLocaleString('en')} -> ${after.toLocaleString('en')} bytes on disk (${Math.round(before / LARGE)} bytes per session)\n`)

      // Prune a million expired sessions while store-reading requests run.
      await seed(t, 0, LARGE, Date.now(), true)
      const idle = await sequential(400, 5, () => call(bastion, jars[1]!, 'GET', '/auth/session'))
      let pruned = 0
      const pruneStarted = performance.now()
      const pruning = t.store.prune(Date.now()).then((n) => {
        pruned = n
        return performance.now()
      })
      let done = false
      void pruning.then(() => (done = true))
      const lat: number[] = []
      while (!done && lat.length < 200_000) {
        // Each request arrives as I/O does, from the event loop's next turn: a loop of promises alone would
        // never let the prune's batches (scheduled with setImmediate) run.
        await new Promise((resolve) => setImmediate(resolve))
        const s = performance.now()
        await call(bastion, jars[1]!, 'GET', '/auth/session')
        lat.push(performance.now() - s)
      }
      const pruneSeconds = ((await pruning) - pruneStarted) / 1000
      const during: Latencies = { perSecond: lat.length / pruneSeconds, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), n: lat.length }
      out(`    prune ${pruned.toLocaleString('en')} expired sessions: ${pruneSeconds.toFixed(1)} s; GET /auth/session p99 ${during.p99.toFixed(2)} ms during, ${idle.p99.toFixed(2)} ms idle\n`)

      const ra = performance.now()
      await bastion.revokeAllSessions()
      const revokeAllMs = performance.now() - ra
      out(`    revoke-all: ${revokeAllMs.toFixed(1)} ms\n`)
      return { store: t.name, sizes, revokeAllMs, prune: { sessions: pruned, seconds: pruneSeconds, idle, during }, bytes: { before, after, refreshes: 1000 } }
    } finally {
      await bastion.close()
    }
  } finally {
    await t.close()
  }
}

const results: StoreResult[] = []
out(`\nscale: ${SMALL.toLocaleString('en')} and ${LARGE.toLocaleString('en')} live sessions, Node ${process.version}${SMOKE ? ' (smoke)' : ''}\n`)
for (const name of STORES) results.push(await measureStore(name === 'postgres' ? postgresTarget : sqliteTarget))

const ms = (x: number) => x.toFixed(2)
out('\n| store | live sessions | refresh/s | refresh p50 (ms) | refresh p99 (ms) | GET /auth/sessions p99 (ms) | revoke one p99 (ms) |\n|---|---:|---:|---:|---:|---:|---:|\n')
for (const r of results) {
  for (const s of r.sizes) {
    out(`| ${r.store} | ${s.sessions.toLocaleString('en')} | ${s.refresh.perSecond.toFixed(0)} | ${ms(s.refresh.p50)} | ${ms(s.refresh.p99)} | ${ms(s.listSessions.p99)} | ${ms(s.revokeOne.p99)} |\n`)
  }
}
out('\n| store | refresh p99 at large ÷ small (target ≤ 1.5) | bytes before → after 1,000 refreshes of one session (per session) | prune | GET /auth/session p99 during prune ÷ idle | revoke-all |\n|---|---:|---|---|---:|---:|\n')
let failed = false
for (const r of results) {
  const [small, large] = r.sizes as [AtSize, AtSize]
  const ratio = large.refresh.p99 / small.refresh.p99
  if (ratio > 1.5) failed = true
  out(`| ${r.store} | ${ratio.toFixed(2)} ${ratio <= 1.5 ? 'met' : 'MISSED'} | ${r.bytes.before.toLocaleString('en')} → ${r.bytes.after.toLocaleString('en')} (${Math.round(r.bytes.before / LARGE)} B) | ` +
    `${r.prune.sessions.toLocaleString('en')} in ${r.prune.seconds.toFixed(1)} s | ${(r.prune.during.p99 / r.prune.idle.p99).toFixed(2)} (${ms(r.prune.during.p99)} / ${ms(r.prune.idle.p99)} ms) | ${r.revokeAllMs.toFixed(1)} ms |\n`)
}
if (failed && !SMOKE) out('\nrefresh p99 target missed (see above)\n')
