/**
 * `npm run bench`: throughput of an authenticated request against an
 * unauthenticated one, and Bastion against a peer stack, measured in the same
 * run so that the ratios hold on a noisy machine. Each server runs in its own
 * process (pinned to CPU 0 when `taskset` exists); the load generator runs here.
 * Bounded: BENCH_SECONDS (default 5) per scenario, 32 connections.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import autocannon from 'autocannon'

const SECONDS = Math.min(Number(process.env.BENCH_SECONDS ?? 5), 60)
const CONNECTIONS = 32
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0

interface Ready {
  url: string
  cookie?: string
  bearer?: string
}

async function start(script: string): Promise<{ child: ChildProcess; ready: Ready }> {
  const args = ['--import', 'tsx', script]
  const child = pin ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 30 s`)), 30_000)
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
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
  return { child, ready }
}

async function load(url: string, headers: Record<string, string> = {}): Promise<{ rps: number; p99: number; errors: number }> {
  // Warm-up: JIT, caches, keep-alive sockets.
  await autocannon({ url, headers, connections: CONNECTIONS, duration: 1 })
  const r = await autocannon({ url, headers, connections: CONNECTIONS, duration: SECONDS })
  return { rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx }
}

const rows: Array<{ name: string; rps: number; p99: number; errors: number }> = []
async function scenario(name: string, url: string, headers?: Record<string, string>) {
  const r = await load(url, headers)
  rows.push({ name, ...r })
  process.stdout.write(`  ${name.padEnd(50)} ${Math.round(r.rps).toString().padStart(7)} req/s  p99 ${String(r.p99).padStart(4)} ms${r.errors ? `  (${r.errors} errors!)` : ''}\n`)
}

process.stdout.write(`Bastion benchmark: ${SECONDS} s per scenario, ${CONNECTIONS} connections, server ${pin ? 'pinned to CPU 0' : 'unpinned'}, Node ${process.version}\n\n`)

const bare = await start('bench/servers/bare.ts')
await scenario('node:http hello world (ceiling)', `${bare.ready.url}/`)
bare.child.kill('SIGTERM')

const bare2 = await start('bench/servers/bastion-bare.ts')
await scenario('Bastion guard on node:http  GET /api/public', `${bare2.ready.url}/api/public`)
await scenario('Bastion guard on node:http  GET /api/me (cookie)', `${bare2.ready.url}/api/me`, { cookie: bare2.ready.cookie! })
bare2.child.kill('SIGTERM')

const bastion = await start('bench/servers/bastion.ts')
await scenario('Bastion  GET /api/public (no auth)', `${bastion.ready.url}/api/public`)
await scenario('Bastion  GET /api/me (access cookie)', `${bastion.ready.url}/api/me`, { cookie: bastion.ready.cookie! })
await scenario('Bastion  GET /api/me (Authorization: Bearer)', `${bastion.ready.url}/api/me`, { authorization: `Bearer ${bastion.ready.bearer!}` })
bastion.child.kill('SIGTERM')

const onExpress = await start('bench/servers/bastion-express.ts')
await scenario('Bastion on Express  GET /api/public', `${onExpress.ready.url}/api/public`)
await scenario('Bastion on Express  GET /api/me (requireAuth)', `${onExpress.ready.url}/api/me`, { cookie: onExpress.ready.cookie! })
onExpress.child.kill('SIGTERM')

const peer = await start('bench/servers/peer-express-jwt.ts')
await scenario('Peer     GET /api/public (Express, no auth)', `${peer.ready.url}/api/public`)
await scenario('Peer     GET /api/me (Express + jsonwebtoken)', `${peer.ready.url}/api/me`, { cookie: peer.ready.cookie! })
await scenario('Peer     GET /api/me (jsonwebtoken, KeyObject)', `${peer.ready.url}/api/me-keyobject`, { cookie: peer.ready.cookie! })
peer.child.kill('SIGTERM')

const rps = (name: string) => rows.find((r) => r.name.startsWith(name))!.rps
const ratio = (a: number, b: number) => (a / b).toFixed(2)
const ceiling = rps('node:http')
const gPublic = rps('Bastion guard on node:http  GET /api/public')
const gAuth = rps('Bastion guard on node:http  GET /api/me')
const bPublic = rps('Bastion  GET /api/public')
const bAuth = rps('Bastion  GET /api/me (access cookie)')
const ePublic = rps('Bastion on Express  GET /api/public')
const eAuth = rps('Bastion on Express  GET /api/me')
const pPublic = rps('Peer     GET /api/public')
const pAuth = rps('Peer     GET /api/me (Express + jsonwebtoken)')
const pKeyAuth = rps('Peer     GET /api/me (jsonwebtoken, KeyObject)')
process.stdout.write(`
Ratios (same run):
  guard on node:http: authenticated / ceiling       ${ratio(gAuth, ceiling)}   (design goal: ≥ 0.50)
  guard on node:http: authenticated / its public    ${ratio(gAuth, gPublic)}
  web adapter: authenticated / unauthenticated      ${ratio(bAuth, bPublic)}
  web adapter: authenticated / node:http ceiling    ${ratio(bAuth, ceiling)}   (the web Request/Response translation)
  Bastion-on-Express authenticated / unauthenticated ${ratio(eAuth, ePublic)}
  Peer authenticated / Peer unauthenticated         ${ratio(pAuth, pPublic)}
  Bastion-on-Express auth / Peer (Express) auth     ${ratio(eAuth, pAuth)}   (same framework, same route; the peer as tutorials write it)
  Bastion-on-Express auth / Peer with a KeyObject   ${ratio(eAuth, pKeyAuth)}   (the peer written carefully)
  Bastion (node adapter) auth / Peer auth           ${ratio(bAuth, pAuth)}
`)
if (rows.some((r) => r.errors > 0)) {
  process.stdout.write('\nSome requests failed: the figures above are not valid.\n')
  process.exit(1)
}
