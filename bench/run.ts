/**
 * `npm run bench`: what Bastion's security costs per request, side by side
 * with a bare `node:http` server and the stacks users would pick instead, as
 * ratios measured in the same run (absolute figures move on a shared machine).
 *
 * Every server runs in its own process on loopback, pinned to CPU 0 when
 * `taskset` exists; this runner (autocannon, the load generator) re-executes
 * itself pinned to CPU 1. Scenarios served by the same process are measured in
 * alternation, BENCH_ROUNDS rounds of BENCH_SECONDS each, and the median
 * round is reported, so a burst of noise hits a route and its baseline alike.
 * Every load is bounded in time (and the total run in scenarios); any non-2xx
 * answer where a 2xx is expected makes the run fail (exit 1).
 *
 *   npm run bench                 full run; writes docs/benchmarks.json and docs/benchmarks.svg
 *   npm run bench -- --smoke      a few seconds per group: every scenario once, for CI
 *   npm run bench -- --out FILE   JSON somewhere else (the SVG beside it)
 *   npm run bench -- scale        1 thousand against 1 million live sessions (bench/scale.ts)
 *
 * Environment: BENCH_SECONDS (default 3), BENCH_ROUNDS (default 3),
 * BENCH_PG_URL (admin URL; default postgres://postgres@127.0.0.1:5432/test:
 * a database bench_<random> is created there and dropped at the end),
 * BENCH_CPU_PROF (a directory: each server writes a V8 CPU profile there).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'
import pg from 'pg'
import { availableSqliteDrivers, resolveSqliteDriver, type SqliteDriverName } from '@bastion/server/sqlite'
import { renderSvg } from './plot.ts'
import { updatePage } from './report.ts'
import type { RefreshBurst, Result, Row } from './rows.ts'

const argv = process.argv.slice(2)
// `npm run bench -- scale`: the session-count benchmark (bench/scale.ts), a run of its own.
if (argv[0] === 'scale') {
  await import('./scale.ts')
  process.exit(0)
}
const SMOKE = argv.includes('--smoke')
const outArg = argv.indexOf('--out')
const OUT = outArg >= 0 ? argv[outArg + 1]! : SMOKE ? join(tmpdir(), 'bastion-bench-smoke.json') : 'docs/benchmarks.json'
const onlyArg = argv.indexOf('--only')
/** `--only bastion,peer-express`: just these groups (for working on one). */
const ONLY = onlyArg >= 0 ? new Set(argv[onlyArg + 1]!.split(',')) : null
const want = (g: string) => ONLY === null || ONLY.has(g)
const SECONDS = SMOKE ? 0.25 : Math.min(Math.max(Number(process.env.BENCH_SECONDS ?? 3), 1), 30)
const ROUNDS = SMOKE ? 1 : Math.min(Math.max(Number(process.env.BENCH_ROUNDS ?? 3), 1), 9)
const WARMUP = SMOKE ? 0 : 1
const CONNECTIONS = 32
const CI = ['1', 'true'].includes((process.env.CI ?? '').toLowerCase())
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SESSIONS = SMOKE ? 2_000 : 100_000
// A smoke run checks that everything runs, not how fast: unpinned, its servers start on both cores at once.
const CAN_PIN = !SMOKE && cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0

// The load generator on CPU 1, the servers on CPU 0: they do not compete for a core.
if (CAN_PIN && !process.env.BENCH_RUNNER_PINNED) {
  const r = spawnSync('taskset', ['-c', '1', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_RUNNER_PINNED: '1' },
  })
  process.exit(r.status ?? 1)
}

const out = (s: string) => process.stdout.write(s)
const failures: string[] = []
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

// ---- processes ---------------------------------------------------------------

interface Ready {
  url: string
  pid: number
  [k: string]: unknown
}

async function start(script: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; ready: Ready; stop: () => Promise<void> }> {
  // BENCH_CPU_PROF=dir: every server writes a V8 CPU profile there when it stops (what docs/benchmarks.md's profiles come from).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const args = [...prof, '--conditions=@bastion/source', '--import', 'tsx', script]
  const opts = { stdio: ['ignore', 'pipe', 'inherit'] as ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } }
  const child = CAN_PIN ? spawn('taskset', ['-c', '0', process.execPath, ...args], opts) : spawn(process.execPath, args, opts)
  children.add(child)
  const lines = createInterface({ input: child.stdout! })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not get ready within 120 s`)), 120_000)
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as Ready & { ready?: boolean }
        if (msg.ready) {
          clearTimeout(timer)
          resolve(msg)
        }
      } catch {
        /* not our line */
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited with ${code} before it was ready`))
    })
  })
  const stop = async () => {
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
    children.delete(child)
  }
  return { child, ready, stop }
}

/** In smoke mode every server starts at once, up front (their start-up, mostly tsx compiling, is most of a smoke run). */
const pending = new Map<string, ReturnType<typeof start>>()
function server(script: string, env: Record<string, string> = {}): ReturnType<typeof start> {
  const key = script + JSON.stringify(env)
  const p = pending.get(key) ?? start(script, env)
  pending.delete(key)
  // A server started early whose start failed must not crash the run before its turn.
  p.catch(() => {})
  return p
}
function prestart(script: string, env: Record<string, string> = {}): void {
  const key = script + JSON.stringify(env)
  const p = start(script, env)
  p.catch(() => {})
  pending.set(key, p)
}

/** utime + stime of a process, in seconds (Linux /proc; null elsewhere). */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // CLK_TCK is 100 on Linux
  } catch {
    return null
  }
}

function rssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Math.round(Number(m[1]) / 1024) : null
  } catch {
    return null
  }
}

/** autocannon with its events (the promise form has none). */
function cannon(opts: autocannon.Options): { instance: autocannon.Instance; done: Promise<autocannon.Result> } {
  let instance!: autocannon.Instance
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)))
  })
  return { instance, done }
}

// ---- load ------------------------------------------------------------------------

interface Target {
  url: string
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: string
  /** For scenarios whose every request differs (refresh, logins). */
  requests?: autocannon.Request[]
  connections?: number
  /** Requests per second for all connections together (fixed-rate load); default: as fast as the server answers. */
  overallRate?: number
  /** Statuses that count as success (default 2xx). */
  okStatus?: (status: number) => boolean
  /** Called before each load (warm-up and measured). */
  reset?: () => void
}

interface Measure {
  rps: number
  p50: number
  p99: number
  /** Server CPU used, in cores (1 = one core busy all the time). */
  serverCpu: number | null
  /** Server CPU time per answered request, µs. */
  cpuUsPerRequest: number | null
  requests: number
  failed: number
  statuses: Record<string, number>
}

async function measure(t: Target, pid: number, seconds = SECONDS, warmup = WARMUP): Promise<Measure> {
  const base = {
    url: t.url,
    method: t.method ?? 'GET',
    headers: t.headers ?? {},
    body: t.body,
    requests: t.requests,
    connections: t.connections ?? CONNECTIONS,
    overallRate: t.overallRate,
  }
  t.reset?.()
  if (warmup > 0) await autocannon({ ...base, duration: warmup })
  t.reset?.()
  const statuses: Record<string, number> = {}
  const cpu0 = cpuSeconds(pid)
  const started = performance.now()
  const { instance, done } = cannon({ ...base, duration: seconds })
  instance.on('response', (_client: unknown, status: number) => {
    statuses[status] = (statuses[status] ?? 0) + 1
  })
  const r = await done
  const wall = (performance.now() - started) / 1000
  const cpu1 = cpuSeconds(pid)
  const ok = t.okStatus ?? ((s: number) => s >= 200 && s < 300)
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0)
  const failed = r.errors + r.timeouts + Object.entries(statuses).filter(([s]) => !ok(Number(s))).reduce((a, [, n]) => a + n, 0)
  const serverCpu = cpu0 !== null && cpu1 !== null ? (cpu1 - cpu0) / wall : null
  return {
    rps: r.duration > 0 ? r.requests.total / r.duration : 0,
    p50: r.latency.p50,
    p99: r.latency.p99,
    serverCpu,
    cpuUsPerRequest: serverCpu !== null && answered > 0 ? ((cpu1! - cpu0!) * 1e6) / answered : null,
    requests: answered,
    failed,
    statuses,
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

// ---- results -----------------------------------------------------------------------

const rows: Row[] = []
const extra: Record<string, unknown> = {}

/** A closed-loop scenario whose server was not kept busy: the load generator (or a noisy neighbour) set the pace, not the server. */
const generatorBound = (r: Row) => r.serverCpu !== null && r.serverCpu < 0.8 && !['flood', 'login', 'burst'].includes(r.group) && !r.id.startsWith('refresh.')

function printRow(r: Row): void {
  const num = (n: number | null, w: number, d = 0) => (n === null ? '—' : n.toFixed(d)).padStart(w)
  out(
    `  ${r.label.padEnd(58)} ${num(r.rps, 8)} ${num(r.p50, 5)} ${num(r.p99, 5)} ${num(r.serverCpu === null ? null : r.serverCpu * 100, 5)}% ${num(r.cpuUsPerRequest, 7, 1)}  ${
      r.ratio === undefined ? '' : `${r.ratio.toFixed(2)} × ${r.baseline}`
    }${generatorBound(r) ? '  (server under 80 % busy: paced by the load generator)' : ''}\n`,
  )
}

type Scenario = { id: string; stack: Row['stack']; label: string; target: Target; baseline?: string }

/** Measures the scenarios of one server in alternation, ROUNDS times; records the median of each. */
async function group(name: string, pid: number, scenarios: Scenario[]): Promise<void> {
  const per = new Map<string, Measure[]>(scenarios.map((s) => [s.id, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      const m = await measure(s.target, pid)
      per.get(s.id)!.push(m)
      if (m.failed > 0) failures.push(`${s.label}: ${m.failed} failed requests (statuses ${JSON.stringify(m.statuses)})`)
      if (m.requests === 0) failures.push(`${s.label}: no answer at all`)
    }
  }
  for (const s of scenarios) {
    const ms = per.get(s.id)!
    const cpu = ms.map((m) => m.serverCpu).filter((x): x is number => x !== null)
    const us = ms.map((m) => m.cpuUsPerRequest).filter((x): x is number => x !== null)
    const row: Row = {
      id: s.id,
      group: name,
      stack: s.stack,
      label: s.label,
      rps: median(ms.map((m) => m.rps)),
      p50: median(ms.map((m) => m.p50)),
      p99: median(ms.map((m) => m.p99)),
      serverCpu: cpu.length ? median(cpu) : null,
      cpuUsPerRequest: us.length ? median(us) : null,
      ...(s.baseline ? { baseline: s.baseline } : {}),
    }
    rows.push(row)
    link()
    printRow(row)
  }
}

function link(): void {
  for (const r of rows) {
    if (!r.baseline) continue
    const b = rows.find((x) => x.id === r.baseline)
    if (b && b.rps > 0) r.ratio = r.rps / b.rps
  }
}

const ENV = {
  refreshSqlite: { BENCH_LOGIN_LIMIT: '1000000' },
  login: { BENCH_ARGON2: 'owasp', BENCH_LOGIN_LIMIT: '100000000' },
  flood: { BENCH_ARGON2: 'owasp', BENCH_TRUST_PROXY: '1' },
  memory: { BENCH_SESSIONS: String(SESSIONS), BENCH_TOKENS: String(SMOKE ? 50 : 2000), BENCH_LOGIN_LIMIT: '100000000' },
}

// ---- scenarios -----------------------------------------------------------------------

const JSON_CT = { 'content-type': 'application/json' }
const TRANSFER = JSON.stringify({ to: 'mallory', amount: 1 })

/** A browser's authenticated POST: cookies, the CSRF header, a same-origin Origin, a JSON body. */
const transferTarget = (url: string, cookie: string, csrfHeader: Record<string, string>, origin?: string): Target => ({
  url: `${url}/api/transfer`,
  method: 'POST',
  headers: { ...JSON_CT, cookie, ...csrfHeader, ...(origin ? { origin } : {}) },
  body: TRANSFER,
})

async function throughput(): Promise<void> {
  out(`\n${'scenario'.padEnd(60)} ${'req/s'.padStart(8)} ${'p50'.padStart(5)} ${'p99'.padStart(5)} ${'cpu'.padStart(6)} ${'µs/req'.padStart(7)}  ratio\n`)

  if (want('ceiling')) {
    const bare = await server('bench/servers/bare.ts')
    await group('ceiling', bare.ready.pid, [{ id: 'ceiling', stack: 'ceiling', label: 'node:http hello world (the limit)', target: { url: `${bare.ready.url}/` } }])
    extra.bareRssMiB = rssMiB(bare.ready.pid)
    await bare.stop()
  }

  if (want('bastion')) {
    const b = await server('bench/servers/bastion-node.ts')
    const bu = b.ready.url
    await group('bastion', b.ready.pid, [
      { id: 'bastion.public', stack: 'bastion', label: 'Bastion (guard on node:http)  GET /api/public', target: { url: `${bu}/api/public` }, baseline: 'ceiling' },
      {
        id: 'bastion.control',
        stack: 'bastion',
        label: 'Bastion (guard on node:http)  control: no auth, /api/me\'s cookies and answer',
        target: { url: `${bu}/api/public-as-me`, headers: { cookie: b.ready.cookie as string } },
        baseline: 'bastion.public',
      },
      { id: 'bastion.me', stack: 'bastion', label: 'Bastion (guard on node:http)  GET /api/me, cookie', target: { url: `${bu}/api/me`, headers: { cookie: b.ready.cookie as string } }, baseline: 'bastion.public' },
      { id: 'bastion.me.bearer', stack: 'bastion', label: 'Bastion (guard on node:http)  GET /api/me, bearer', target: { url: `${bu}/api/me`, headers: { authorization: `Bearer ${b.ready.bearer as string}` } }, baseline: 'bastion.public' },
      { id: 'bastion.transfer', stack: 'bastion', label: 'Bastion (guard on node:http)  POST /api/transfer, CSRF', target: transferTarget(bu, b.ready.cookie as string, { 'x-csrf-token': b.ready.csrf as string }, bu), baseline: 'bastion.public' },
    ])
    await b.stop()
  }

  // The encrypted access cookie: the same server and scenario, the cookie a JWE (its ratio to bastion.me below).
  if (want('bastion-jwe')) {
    const b = await server('bench/servers/bastion-node.ts', { BENCH_ACCESS_FORMAT: 'jwe' })
    await group('bastion-jwe', b.ready.pid, [
      { id: 'bastion.me.jwe', stack: 'bastion', label: 'Bastion (guard on node:http)  GET /api/me, jwe cookie', target: { url: `${b.ready.url}/api/me`, headers: { cookie: b.ready.cookie as string } }, baseline: 'bastion.me' },
    ])
    await b.stop()
  }
  if (want('adapter')) {
    // One process, three ports, measured in alternation: what the web-standard adapter costs next to bare node:http.
    const w = await server('bench/servers/bastion-web.ts')
    const { url: wu, bareUrl, undiciUrl, cookie } = w.ready as Ready & { bareUrl: string; undiciUrl: string; cookie: string }
    await group('adapter', w.ready.pid, [
      { id: 'web.bare', stack: 'ceiling', label: 'Adapter rows: bare node:http (same process)  GET /api/public', target: { url: `${bareUrl}/api/public` } },
      { id: 'web.public', stack: 'bastion-web', label: 'toNodeListener, lazy Request  GET /api/public', target: { url: `${wu}/api/public` }, baseline: 'web.bare' },
      { id: 'web.me', stack: 'bastion-web', label: 'toNodeListener, lazy Request  GET /api/me, cookie', target: { url: `${wu}/api/me`, headers: { cookie } }, baseline: 'web.bare' },
      { id: 'web.undici.public', stack: 'bastion-web', label: 'toNodeListener, undici Request  GET /api/public', target: { url: `${undiciUrl}/api/public` }, baseline: 'web.bare' },
      { id: 'web.undici.me', stack: 'bastion-web', label: 'toNodeListener, undici Request  GET /api/me, cookie', target: { url: `${undiciUrl}/api/me`, headers: { cookie } }, baseline: 'web.bare' },
    ])
    await w.stop()
  }

  if (want('hono')) {
    // The Hono path on Node: @hono/node-server's own Request and Response, Bastion as Hono middleware; bare node:http
    // in the same process is the baseline.
    const h = await server('bench/servers/bastion-hono.ts')
    const { url: hu, bareUrl, cookie } = h.ready as Ready & { bareUrl: string; cookie: string }
    await group('hono', h.ready.pid, [
      { id: 'hono.bare', stack: 'ceiling', label: 'Hono rows: bare node:http (same process)  GET /api/public', target: { url: `${bareUrl}/api/public` } },
      { id: 'hono.public', stack: 'bastion-hono', label: 'Hono on @hono/node-server  GET /api/public', target: { url: `${hu}/api/public` }, baseline: 'hono.bare' },
      { id: 'hono.me', stack: 'bastion-hono', label: 'Hono on @hono/node-server  GET /api/me, cookie', target: { url: `${hu}/api/me`, headers: { cookie } }, baseline: 'hono.bare' },
    ])
    await h.stop()
  }

  if (want('bastion-demo')) {
    const demo = await server('bench/servers/bastion-demo.ts')
    const du = demo.ready.url
    await group('bastion-demo', demo.ready.pid, [
      { id: 'demo.public', stack: 'bastion-demo', label: 'Demo bank (web adapter)  GET /api/public', target: { url: `${du}/api/public` }, baseline: 'ceiling' },
      { id: 'demo.me', stack: 'bastion-demo', label: 'Demo bank (web adapter)  GET /api/me, cookie', target: { url: `${du}/api/me`, headers: { cookie: demo.ready.cookie as string } }, baseline: 'demo.public' },
      // The control: /api/public with the cookies a signed-in browser sends to every path of the origin.
      { id: 'demo.public.cookies', stack: 'bastion-demo', label: 'Demo bank (web adapter)  control: GET /api/public with the cookies', target: { url: `${du}/api/public`, headers: { cookie: demo.ready.cookie as string } }, baseline: 'demo.public' },
      { id: 'demo.transfer', stack: 'bastion-demo', label: 'Demo bank (web adapter)  POST /api/transfer, CSRF', target: transferTarget(du, demo.ready.cookie as string, { 'x-csrf-token': demo.ready.csrf as string }, du), baseline: 'demo.public' },
    ])
    await demo.stop()
  }

  if (want('bastion-express')) {
    const ex = await server('bench/servers/bastion-express.ts')
    const eu = ex.ready.url
    await group('bastion-express', ex.ready.pid, [
      { id: 'bexpress.public', stack: 'bastion-express', label: 'Bastion on Express  GET /api/public', target: { url: `${eu}/api/public` }, baseline: 'ceiling' },
      { id: 'bexpress.me', stack: 'bastion-express', label: 'Bastion on Express  GET /api/me, cookie', target: { url: `${eu}/api/me`, headers: { cookie: ex.ready.cookie as string } }, baseline: 'bexpress.public' },
      { id: 'bexpress.transfer', stack: 'bastion-express', label: 'Bastion on Express  POST /api/transfer, CSRF', target: transferTarget(eu, ex.ready.cookie as string, { 'x-csrf-token': ex.ready.csrf as string }, eu), baseline: 'bexpress.public' },
    ])
    await ex.stop()
  }

  if (want('peer-express')) {
    const pe = await server('bench/servers/peer-express-jwt.ts')
    const pu = pe.ready.url
    await group('peer-express', pe.ready.pid, [
      { id: 'pexpress.public', stack: 'peer-express', label: 'Peer: Express + jsonwebtoken + csrf-csrf  GET /api/public', target: { url: `${pu}/api/public` }, baseline: 'ceiling' },
      { id: 'pexpress.me', stack: 'peer-express', label: 'Peer: Express + jsonwebtoken  GET /api/me, cookie', target: { url: `${pu}/api/me`, headers: { cookie: pe.ready.cookie as string } }, baseline: 'pexpress.public' },
      { id: 'pexpress.me.keyobject', stack: 'peer-express', label: 'Peer: Express + jsonwebtoken (KeyObject)  GET /api/me', target: { url: `${pu}/api/me-keyobject`, headers: { cookie: pe.ready.cookie as string } }, baseline: 'pexpress.public' },
      { id: 'pexpress.transfer', stack: 'peer-express', label: 'Peer: Express + csrf-csrf  POST /api/transfer, CSRF', target: transferTarget(pu, pe.ready.cookie as string, { 'x-csrf-token': pe.ready.csrf as string }), baseline: 'pexpress.public' },
    ])
    await pe.stop()
  }

  if (want('peer-better-auth')) {
    const ba = await server('bench/servers/peer-better-auth.ts')
    const au = ba.ready.url
    await group('peer-better-auth', ba.ready.pid, [
      { id: 'pbetter.public', stack: 'peer-better-auth', label: 'Peer: Better Auth (cookie cache)  GET /api/public', target: { url: `${au}/api/public` }, baseline: 'ceiling' },
      { id: 'pbetter.me', stack: 'peer-better-auth', label: 'Peer: Better Auth (cookie cache)  GET /api/me, cookie', target: { url: `${au}/api/me`, headers: { cookie: ba.ready.cookie as string } }, baseline: 'pbetter.public' },
      { id: 'pbetter.transfer', stack: 'peer-better-auth', label: 'Peer: Better Auth (cookie cache)  POST /api/transfer', target: transferTarget(au, ba.ready.cookie as string, {}, au), baseline: 'pbetter.public' },
    ])
    await ba.stop()
  }
}

// ---- refresh ---------------------------------------------------------------------------

interface Pooled {
  refresh: string
  csrf: string
  busy: boolean
}

/** What a browser sends with a refresh: the refresh and CSRF cookies, and the CSRF header. */
const refreshHeaders = (s: Pooled): Record<string, string> => ({ cookie: `__Secure-refresh=${s.refresh}; __Host-csrf=${s.csrf}`, 'x-csrf-token': s.csrf })

/**
 * Each request presents a live refresh token of its own (never one in flight)
 * and keeps the rotated successor for a later request. A run that ends drops
 * its in-flight requests: `reset` frees their entries, whose token may then be
 * one rotation behind, which the grace window (10 s) answers with the same successor.
 */
function refreshRequests(pool: Pooled[]): { requests: autocannon.Request[]; reset: () => void } {
  let next = 0
  const pick = (): Pooled => {
    for (let k = 0; k < pool.length; k++) {
      const s = pool[(next + k) % pool.length]!
      if (!s.busy) {
        next = (next + k + 1) % pool.length
        return s
      }
    }
    throw new Error('refresh pool exhausted')
  }
  const requests: autocannon.Request[] = [
    {
      method: 'POST',
      path: '/auth/refresh',
      setupRequest: (req, context) => {
        const s = pick()
        s.busy = true
        ;(context as { s?: Pooled }).s = s
        return { ...req, headers: refreshHeaders(s) }
      },
      onResponse: (status, _body, context, headers) => {
        const s = (context as { s?: Pooled }).s
        if (!s) return
        const set = (headers as Record<string, string | string[]>)?.['set-cookie'] ?? (headers as Record<string, string | string[]>)?.['Set-Cookie']
        const list = Array.isArray(set) ? set : set ? [set] : []
        const rotated = list.map((c) => /^__Secure-refresh=([^;]*)/.exec(c)?.[1]).find((v) => v)
        if (status === 200 && rotated) s.refresh = rotated
        s.busy = false
      },
    },
  ]
  return { requests, reset: () => pool.forEach((s) => (s.busy = false)) }
}

/** The control of a refresh: the same request bytes (a pooled session's cookies and CSRF header) to a route that only answers. */
function refreshControlRequests(pool: Pooled[]): autocannon.Request[] {
  let next = 0
  return [
    {
      method: 'POST',
      path: '/api/refresh-control',
      setupRequest: (req) => {
        const s = pool[next++ % pool.length]!
        return { ...req, headers: refreshHeaders(s) }
      },
    },
  ]
}

/**
 * Refresh on SQLite once per driver this Node loads (the path writes, so the driver matters): the default one
 * (node:sqlite on Node 24+, better-sqlite3 before) under `refresh.sqlite`, the other under `refresh.sqlite.<driver>`
 * (`refresh.sqlite.better-sqlite3`, `refresh.sqlite.node-sqlite`).
 * Both load on one line only where better-sqlite3 is built for it (CI puts a build for Node 24 on NODE_PATH).
 */
async function sqliteRefreshGroups(): Promise<void> {
  const def = resolveSqliteDriver().name
  const others = availableSqliteDrivers().filter((d) => d !== def)
  await refreshGroup('sqlite', {}, def)
  // Before issue 16 in the same run: each rotation its own commit (and fsync).
  await refreshGroup('sqlite', { BENCH_GROUP_COMMIT: '0' }, def, 'refresh.sqlite.single', ', one commit per rotation')
  const idOf = (d: SqliteDriverName) => `refresh.sqlite.${d.replace(/[^a-z0-9]+/g, '-')}`
  for (const d of others) await refreshGroup('sqlite', { BASTION_SQLITE_DRIVER: d }, d, idOf(d))
  if (!others.length) out(`  (refresh on ${def} only: the other SQLite driver does not load on Node ${process.version})\n`)
  else {
    const rps = (id: string) => rows.find((r) => r.id === id)?.rps ?? NaN
    out(`  refresh on ${others[0]} ÷ on ${def}: ${(rps(idOf(others[0]!)) / rps('refresh.sqlite')).toFixed(2)} (same run, Node ${process.version})\n`)
  }
}

async function refreshGroup(
  store: 'sqlite' | 'postgres',
  env: Record<string, string>,
  driver?: SqliteDriverName,
  id = `refresh.${store}`,
  variant = '',
): Promise<void> {
  const srv = await server('bench/servers/bastion-node.ts', { ...env, ...ENV.refreshSqlite })
  const url = srv.ready.url
  const { browserLogin } = await import('./servers/common.ts')
  const pool: Pooled[] = []
  for (let i = 0; i < (SMOKE ? CONNECTIONS + 8 : CONNECTIONS * 4); i++) {
    const s = await browserLogin(url)
    pool.push({ refresh: s.refresh, csrf: s.csrf, busy: false })
  }
  const { requests, reset } = refreshRequests(pool)
  const label = `${store === 'sqlite' ? `SQLite (${driver})` : 'PostgreSQL'}${variant}`
  await group(id.replace(/\./g, '-'), srv.ready.pid, [
    { id: `${id}.public`, stack: 'bastion', label: `Bastion on ${label}  GET /api/public`, target: { url: `${url}/api/public` } },
    {
      id,
      stack: 'bastion',
      label: `Bastion on ${label}  POST /auth/refresh (rotation)`,
      target: { url, requests, reset },
      baseline: `${id}.public`,
    },
    {
      id: `${id}.control`,
      stack: 'bastion',
      label: `Bastion on ${label}  control: a refresh's request and answer bytes, no work`,
      target: { url, requests: refreshControlRequests(pool) },
      baseline: `${id}.public`,
    },
  ])
  await refreshBurst(srv.ready.pid, url, srv.ready.cookie as string, requests, reset, label, id)
  await srv.stop()
}

/**
 * What a user's page feels while others refresh: `GET /api/me` at a fixed
 * rate (1,000/s on 8 connections), its p50/p99 alone and then during a burst
 * of rotations (32 connections, as fast as they are answered), on one server.
 */
async function refreshBurst(pid: number, url: string, cookie: string, requests: autocannon.Request[], reset: () => void, label: string, id: string): Promise<void> {
  const me: Target = { url: `${url}/api/me`, headers: { cookie }, connections: 8, overallRate: 1000 }
  const idle = await measure(me, pid, SECONDS)
  reset()
  let refreshed = 0
  const burst = cannon({ url, requests, connections: CONNECTIONS, duration: SECONDS + (SMOKE ? 0.6 : 2) })
  burst.instance.on('response', (_c: unknown, status: number) => {
    if (status === 200) refreshed++
  })
  await new Promise((r) => setTimeout(r, SMOKE ? 300 : 1000)) // the burst is under way
  const under = await measure(me, pid, SECONDS, 0)
  const b = await burst.done
  reset()
  if (idle.failed || under.failed) failures.push(`${label}: GET /api/me around the refresh burst: ${idle.failed + under.failed} failed requests`)
  const summary: RefreshBurst = {
    store: label,
    apiRate: me.overallRate!,
    idle: { p50: idle.p50, p99: idle.p99 },
    underBurst: { p50: under.p50, p99: under.p99, refreshesPerSecond: refreshed / (b.duration || 1) },
  }
  ;((extra.refreshBursts as RefreshBurst[] | undefined) ?? (extra.refreshBursts = [])).push(summary)
  rows.push(
    { id: `${id}.burst.idle`, group: 'burst', stack: 'bastion', label: `Bastion on ${label}  GET /api/me at 1000/s, idle`, rps: idle.rps, p50: idle.p50, p99: idle.p99, serverCpu: idle.serverCpu, cpuUsPerRequest: idle.cpuUsPerRequest },
    { id: `${id}.burst.under`, group: 'burst', stack: 'bastion', label: `Bastion on ${label}  GET /api/me at 1000/s, during a refresh burst`, rps: under.rps, p50: under.p50, p99: under.p99, serverCpu: under.serverCpu, cpuUsPerRequest: under.cpuUsPerRequest },
  )
  for (const r of rows.slice(-2)) printRow(r)
  out(`  refresh burst on ${label}: ${summary.underBurst.refreshesPerSecond.toFixed(0)} rotations/s; GET /api/me p99 ${idle.p99} ms idle, ${under.p99} ms during the burst\n`)
}

async function postgresGroup(): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 })
  try {
    await admin.connect()
  } catch (e) {
    const why = `PostgreSQL at ${PG_ADMIN_URL} unreachable (${e instanceof Error ? e.message : String(e)})`
    if (CI) failures.push(why)
    else out(`  (skipped: ${why})\n`)
    return
  }
  const db = `bench_${randomBytes(6).toString('hex')}`
  await admin.query(`CREATE DATABASE ${db}`)
  try {
    const u = new URL(PG_ADMIN_URL)
    u.pathname = `/${db}`
    await refreshGroup('postgres', { BENCH_STORE: 'postgres', BENCH_PG_URL: u.toString() })
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch((e: unknown) => out(`  (could not drop ${db}: ${String(e)})\n`))
    await admin.end()
  }
}

// ---- login, and the API under a login flood ---------------------------------------------

async function loginGroups(): Promise<void> {
  const raw = await server('bench/servers/argon2-raw.ts', { BENCH_SECONDS: String(SECONDS) })
  const hashes = raw.ready.hashesPerSecond as number
  rows.push({ id: 'argon2.raw', group: 'login', stack: 'argon2', label: 'argon2id verify, raw (19 MiB, t=2, 4 at a time)', rps: hashes, p50: null, p99: null, serverCpu: null, cpuUsPerRequest: null })
  printRow(rows[rows.length - 1]!)
  await raw.stop()

  // Login throughput: OWASP parameters; limits raised so that every attempt is hashed.
  const srv = await server('bench/servers/bastion-node.ts', ENV.login)
  const url = srv.ready.url
  const pre = (await fetch(`${url}/auth/csrf`)).headers.getSetCookie()[0]!.split(';')[0]!
  await group('login', srv.ready.pid, [
    {
      id: 'login',
      stack: 'bastion',
      label: 'Bastion  POST /auth/login (argon2id, OWASP)',
      target: {
        url: `${url}/auth/login`,
        method: 'POST',
        headers: { ...JSON_CT, cookie: pre, 'x-csrf-token': pre.split('=')[1]! },
        body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
        connections: 8,
      },
      baseline: 'argon2.raw',
    },
  ])
  await srv.stop()

  extra.flood = await floodRun(ENV.flood, 'flood', '')
  // The same with a libuv threadpool of one thread: at most one hash at a time next to the event loop (same code: not in a smoke run).
  if (!SMOKE) extra.floodPool1 = await floodRun({ ...ENV.flood, UV_THREADPOOL_SIZE: '1' }, 'flood.pool1', ' (UV_THREADPOOL_SIZE=1)')
}

/**
 * The flood: wrong passwords from many addresses for many accounts, so that the
 * product's default limits (100 per address, 10 per account, per 15 min) do not
 * stop it before hashing: the worst case for the event loop.
 */
async function floodRun(env: Record<string, string>, tag: string, what: string) {
  const f = await server('bench/servers/bastion-node.ts', env)
  const fu = f.ready.url
  const me: Target = { url: `${fu}/api/me`, headers: { cookie: f.ready.cookie as string, 'x-forwarded-for': '192.0.2.1' }, connections: 8, overallRate: 2000 }
  const idle = await measure(me, f.ready.pid, SECONDS * 2)
  let n = 0
  const fpre = (await fetch(`${fu}/auth/csrf`)).headers.getSetCookie()[0]!.split(';')[0]!
  const floodStatuses: Record<string, number> = {}
  const flood = cannon({
    url: `${fu}/auth/login`,
    connections: 64,
    duration: SECONDS * 2 + (SMOKE ? 0.6 : 2),
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          n++
          return {
            ...req,
            headers: { ...JSON_CT, cookie: fpre, 'x-csrf-token': fpre.split('=')[1]!, 'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` },
            body: JSON.stringify({ username: `user${n % 50_000}`, password: 'wrong-password-123' }),
          }
        },
      },
    ],
  })
  flood.instance.on('response', (_c: unknown, status: number) => {
    floodStatuses[status] = (floodStatuses[status] ?? 0) + 1
  })
  await new Promise((r) => setTimeout(r, SMOKE ? 300 : 1000)) // let the flood fill the hashing queue
  const under = await measure(me, f.ready.pid, SECONDS * 2, 0)
  const floodResult = await flood.done
  await f.stop()
  // No answer under the flood is a finding (the event loop starved for the whole window), not a broken bench.
  if (idle.requests === 0) failures.push('GET /api/me before the login flood: no answer at all')
  if (under.requests === 0) out('  (GET /api/me got no answer at all during the flood window)\n')
  if (idle.failed || under.failed) failures.push(`GET /api/me under the login flood: ${idle.failed + under.failed} failed requests`)
  const hashed = floodStatuses['401'] ?? 0
  if (hashed === 0) failures.push(`the login flood reached no password check (statuses ${JSON.stringify(floodStatuses)})`)
  const summary = {
    apiRate: me.overallRate,
    idle: { p50: idle.p50, p99: idle.p99, rps: idle.rps },
    underFlood: { p50: under.p50, p99: under.p99, rps: under.rps, serverCpu: under.serverCpu },
    floodConnections: 64,
    floodStatuses,
    floodLoginsPerSecond: hashed / (floodResult.duration || 1),
    p99Ratio: under.requests === 0 ? Infinity : under.p99 / Math.max(idle.p99, 1),
  }
  rows.push(
    { id: `${tag}.idle`, group: 'flood', stack: 'bastion', label: `Bastion${what}  GET /api/me at ${me.overallRate}/s, idle`, rps: idle.rps, p50: idle.p50, p99: idle.p99, serverCpu: idle.serverCpu, cpuUsPerRequest: idle.cpuUsPerRequest },
    {
      id: `${tag}.under`,
      group: 'flood',
      stack: 'bastion',
      label: `Bastion${what}  GET /api/me at ${me.overallRate}/s, under a wrong-password flood`,
      rps: under.rps,
      p50: under.p50,
      p99: under.p99,
      serverCpu: under.serverCpu,
      cpuUsPerRequest: under.cpuUsPerRequest,
      note: `flood: ${JSON.stringify(floodStatuses)}`,
    },
  )
  for (const r of rows.slice(-2)) printRow(r)
  out(`  flood: ${summary.floodLoginsPerSecond.toFixed(0)} wrong-password logins/s hashed, answers ${JSON.stringify(floodStatuses)}; p99 ratio ${summary.p99Ratio.toFixed(2)}\n`)
  return summary
}

// ---- memory with many live sessions -------------------------------------------------------

async function memoryGroup(): Promise<void> {
  const tokens = Number(ENV.memory.BENCH_TOKENS)
  const srv = await server('bench/servers/bastion-node.ts', ENV.memory)
  const pid = srv.ready.pid
  const rssReady = rssMiB(pid)
  const list = JSON.parse(readFileSync(srv.ready.tokensFile as string, 'utf8')) as string[]
  let i = 0
  const m = await measure(
    {
      url: `${srv.ready.url}/api/me`,
      requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${list[i++ % list.length]}` } }) }],
    },
    pid,
  )
  if (m.failed) failures.push(`memory: ${m.failed} failed authenticated requests`)
  const rssAfter = rssMiB(pid)
  await srv.stop()
  extra.memory = { sessions: SESSIONS, distinctTokensInTraffic: tokens, ...(srv.ready.memory as object), rssReadyMiB: rssReady, rssAfterTrafficMiB: rssAfter, trafficRps: m.rps }
  out(`  ${`RSS with ${SESSIONS.toLocaleString('en-US')} live sessions (after ${m.requests} authenticated requests)`.padEnd(58)} ${String(rssAfter).padStart(8)} MiB  (at start ${(srv.ready.memory as { rssAtStartMiB: number }).rssAtStartMiB} MiB, bare node:http ${extra.bareRssMiB} MiB)\n`)
}

// ---- the run -------------------------------------------------------------------------------

const { runMicro } = await import('./micro.ts')
out(
  `Bastion benchmark${SMOKE ? ' (smoke)' : ''}: ${ROUNDS} round(s) × ${SECONDS} s per scenario, ${CONNECTIONS} connections, ` +
    `${CAN_PIN ? 'servers pinned to CPU 0, load generator to CPU 1' : 'unpinned'}, Node ${process.version}, ${cpus().length} cores\n`,
)
const startedAt = new Date()
/** The microbenchmark, in its own process (pinned to the servers' core). A full run starts it last, alone; a smoke run at once, beside the rest. */
function startMicro(): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const args = ['--conditions=@bastion/source', '--import', 'tsx', 'bench/micro.ts', '--json']
  const env = { ...process.env, BENCH_MICRO_MS: SMOKE ? '40' : '400', BENCH_MICRO_TOKENS: SMOKE ? '300' : '3000' }
  const child = CAN_PIN ? spawn('taskset', ['-c', '0', process.execPath, ...args], { env }) : spawn(process.execPath, args, { env })
  children.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve) => child.once('exit', (status) => resolve({ status, stdout, stderr })))
}
let microRun = SMOKE && want('micro') ? startMicro() : undefined
if (SMOKE && ONLY === null) {
  for (const script of ['bare', 'bastion-node', 'bastion-web', 'bastion-hono', 'bastion-demo', 'bastion-express', 'peer-express-jwt', 'peer-better-auth']) prestart(`bench/servers/${script}.ts`)
  for (const env of [ENV.refreshSqlite, ENV.login, ENV.flood, ENV.memory]) prestart('bench/servers/bastion-node.ts', env)
}
try {
  await throughput()
  if (want('refresh-sqlite')) await sqliteRefreshGroups()
  if (want('refresh-postgres')) await postgresGroup()
  out('\n')
  if (want('login')) await loginGroups()
  if (want('memory')) await memoryGroup()
} catch (e) {
  failures.push(`the run stopped: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
}

// The microbenchmark runs in its own pinned process (the load generator's core is busy with nothing then, but its JIT state is its own).
let micro: Awaited<ReturnType<typeof runMicro>> = []
if (want('micro')) {
  microRun ??= startMicro()
  const r = await microRun
  if (r.status !== 0) failures.push(`micro: exited with ${r.status}: ${r.stderr}`)
  else micro = JSON.parse(r.stdout) as typeof micro
  out('\nThe verification path alone (ops/s, one core):\n')
  const { printMicro } = await import('./micro.ts')
  printMicro(micro, out)
}

// ---- targets ------------------------------------------------------------------------------

const get = (id: string) => rows.find((r) => r.id === id)
const ratioOf = (a: string, b: string) => (get(a) && get(b) ? get(a)!.rps / get(b)!.rps : NaN)
/** The same ratio from the server's CPU time per request: what one core could serve, whether or not the load generator kept it busy. */
const cpuRatioOf = (a: string, b: string) => {
  const x = get(a)?.cpuUsPerRequest
  const y = get(b)?.cpuUsPerRequest
  return x && y ? y / x : NaN
}
const flood = extra.flood as { p99Ratio: number } | undefined
/** µs of one access-token signature, from this run's microbenchmark (NaN without it). */
const signUs = (micro.find((m) => m.name.startsWith('refresh part: access token signed'))?.nsPerOp ?? NaN) / 1000
/**
 * The most a refresh could reach against /api/public if everything but its HTTP bytes (its control) and the one
 * signature it must make cost nothing: the store's read and durable write, the MACs, the cookies, the JSON.
 */
const refreshCeiling = (store: string) => {
  const pub = get(`refresh.${store}.public`)?.cpuUsPerRequest
  const control = get(`refresh.${store}.control`)?.cpuUsPerRequest
  return pub && control ? pub / (control + signUs) : NaN
}
const targets = [
  { name: 'GET /api/me ÷ GET /api/public, same server', value: ratioOf('bastion.me', 'bastion.public'), goal: 0.9, byCpu: cpuRatioOf('bastion.me', 'bastion.public') },
  { name: 'GET /api/me ÷ bare node:http hello world', value: ratioOf('bastion.me', 'ceiling'), goal: 0.5, byCpu: cpuRatioOf('bastion.me', 'ceiling') },
  { name: 'Bastion GET /api/me ÷ Express + jsonwebtoken GET /api/me', value: ratioOf('bastion.me', 'pexpress.me'), goal: 5, byCpu: cpuRatioOf('bastion.me', 'pexpress.me') },
  { name: 'Bastion GET /api/me ÷ Better Auth (cookie cache) GET /api/me', value: ratioOf('bastion.me', 'pbetter.me'), goal: 4, byCpu: cpuRatioOf('bastion.me', 'pbetter.me') },
  { name: 'GET /api/me p99 under login flood ÷ idle p99 (at most)', value: flood?.p99Ratio ?? NaN, goal: 3, atMost: true, byCpu: NaN },
  { name: 'toNodeListener GET /api/public ÷ bare node:http, same process', value: ratioOf('web.public', 'web.bare'), goal: 0.5, byCpu: cpuRatioOf('web.public', 'web.bare') },
  { name: 'toNodeListener GET /api/me ÷ bare node:http, same process', value: ratioOf('web.me', 'web.bare'), goal: 0.5, byCpu: cpuRatioOf('web.me', 'web.bare') },
  { name: 'Hono on Node GET /api/public ÷ bare node:http, same process', value: ratioOf('hono.public', 'hono.bare'), goal: 0.5, byCpu: cpuRatioOf('hono.public', 'hono.bare') },
  { name: 'Hono on Node GET /api/me ÷ bare node:http, same process', value: ratioOf('hono.me', 'hono.bare'), goal: 0.5, byCpu: cpuRatioOf('hono.me', 'hono.bare') },
  { name: 'Demo bank GET /api/me ÷ its GET /api/public', value: ratioOf('demo.me', 'demo.public'), goal: 0.9, byCpu: cpuRatioOf('demo.me', 'demo.public') },
  { name: 'Demo bank GET /api/me ÷ bare node:http hello world', value: ratioOf('demo.me', 'ceiling'), goal: 0.5, byCpu: cpuRatioOf('demo.me', 'ceiling') },
  { name: 'POST /auth/refresh on SQLite ÷ GET /api/public', value: ratioOf('refresh.sqlite', 'refresh.sqlite.public'), goal: 0.25, byCpu: cpuRatioOf('refresh.sqlite', 'refresh.sqlite.public') },
  { name: 'POST /auth/refresh on PostgreSQL ÷ GET /api/public', value: ratioOf('refresh.postgres', 'refresh.postgres.public'), goal: 0.25, byCpu: cpuRatioOf('refresh.postgres', 'refresh.postgres.public') },
  { name: '(not a target) refresh on SQLite at most: /api/public ÷ (control + signature)', value: refreshCeiling('sqlite'), goal: 0.25, byCpu: NaN },
  { name: '(not a target) refresh on PostgreSQL at most: /api/public ÷ (control + signature)', value: refreshCeiling('postgres'), goal: 0.25, byCpu: NaN },
  { name: '(not a target) toNodeListener GET /api/me, lazy ÷ undici Request', value: ratioOf('web.me', 'web.undici.me'), goal: 1, byCpu: cpuRatioOf('web.me', 'web.undici.me') },
  { name: '(not a target) SQLite: refresh ÷ its control (the HTTP bytes alone)', value: ratioOf('refresh.sqlite', 'refresh.sqlite.control'), goal: 0.25, byCpu: cpuRatioOf('refresh.sqlite', 'refresh.sqlite.control') },
  { name: '(not a target) PostgreSQL: refresh ÷ its control (the HTTP bytes alone)', value: ratioOf('refresh.postgres', 'refresh.postgres.control'), goal: 0.25, byCpu: cpuRatioOf('refresh.postgres', 'refresh.postgres.control') },
  { name: '(not a target) Demo bank GET /api/me ÷ its /api/public with the same cookies', value: ratioOf('demo.me', 'demo.public.cookies'), goal: 0.9, byCpu: cpuRatioOf('demo.me', 'demo.public.cookies') },
  { name: '(not a target) GET /api/me ÷ the control (security alone)', value: ratioOf('bastion.me', 'bastion.control'), goal: 0.9, byCpu: cpuRatioOf('bastion.me', 'bastion.control') },
  { name: '(not a target) GET /api/me, jwe cookie ÷ jws cookie', value: ratioOf('bastion.me.jwe', 'bastion.me'), goal: 0.9, byCpu: cpuRatioOf('bastion.me.jwe', 'bastion.me') },
  { name: '(not a target) Bastion on Express ÷ Express + jsonwebtoken, /api/me', value: ratioOf('bexpress.me', 'pexpress.me'), goal: 5, byCpu: cpuRatioOf('bexpress.me', 'pexpress.me') },
].map((t) => ({
  ...t,
  met: t.name.startsWith('(not a target)') ? null : Number.isFinite(t.value) ? (t.atMost ? t.value <= t.goal : t.value >= t.goal) : null,
}))
out(`\nTargets (ratios in this run${SMOKE ? '; a smoke run is too short and unpinned for them to mean anything' : ''}):\n`)
for (const t of targets) {
  out(
    `  ${t.name.padEnd(70)} ${Number.isFinite(t.value) ? t.value.toFixed(2).padStart(6) : '     —'}  ${t.atMost ? '≤' : '≥'} ${String(t.goal).padEnd(4)}  ${t.met === null ? (t.name.startsWith('(not') ? '' : 'not measured') : t.met ? 'met' : 'MISSED'}` +
      `${Number.isFinite(t.byCpu) ? `   (by server CPU per request: ${t.byCpu.toFixed(2)})` : ''}\n`,
  )
}

const result = {
  date: startedAt.toISOString(),
  smoke: SMOKE,
  machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, pinned: CAN_PIN },
  command: SMOKE ? 'npm run bench -- --smoke' : 'npm run bench',
  seconds: SECONDS,
  rounds: ROUNDS,
  connections: CONNECTIONS,
  rows,
  ...extra,
  micro,
  targets,
  failures,
}
mkdirSync(dirname(OUT), { recursive: true })
writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n')
const svg = OUT.replace(/\.json$/, '') + '.svg'
writeFileSync(svg, renderSvg(result))
out(`\nWrote ${OUT} and ${svg}.\n`)
// A full run with the default output keeps docs/benchmarks.md's table in step (a smoke run never does).
if (!SMOKE && outArg < 0 && ONLY === null && failures.length === 0 && updatePage('docs/benchmarks.md', result as unknown as Result)) out('Updated the figures in docs/benchmarks.md.\n')
if (failures.length) {
  out(`\nThe run is not valid:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`)
  process.exit(1)
}
process.exit(0)
