// Bastion on bare node:http: what an application that cares about throughput
// writes. Application routes call `bastion.guard(requestHead(req))` (no web
// Request or Response built); Bastion's own endpoints (/auth/*) go through
// `toNodeListener`, the web-standard adapter the README shows (its default
// request: the lazy one on Node 20 and 22, undici's on 24+).
//
// Routes: GET /api/public (no auth), GET /api/public-as-me (no auth, answers
// what /api/me answers: the control), GET /api/me (cookie or bearer),
// POST /api/transfer (cookie + CSRF header + JSON body), /auth/*, and
// POST /api/refresh-control (no work: answers the bytes a real refresh answered
// at start, status, headers with their three Set-Cookie and body: what the HTTP
// part of a refresh costs, the control of POST /auth/refresh).
// BENCH_SESSIONS=n first inserts n live sessions through the store API and
// mints BENCH_TOKENS bearer tokens (written to a file the runner reads).
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { contextOf, requestHead, toNodeListener, writeWebResponse } from '@bastion/server/node'
import { json } from '@bastion/server'
import { ALICE, benchBastion, benchDir, bearerLogin, browserLogin, listen, makeBank, readJson } from './common.ts'

const { bastion, store } = await benchBastion()
const alice = (await bastion.findUser(ALICE.username))!
const transfer = makeBank()
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }
const rss = () => Math.round(process.memoryUsage().rss / 1024 / 1024)
const memory: Record<string, number> = { rssAtStartMiB: rss() }

// Bastion's own endpoints (and anything else) through the product's Node listener; only the application routes above
// are written by hand.
const auth = toNodeListener(bastion, () => json({ error: { code: 'not_found', message: 'Not found.' } }, 404))

/** A real refresh's answer, captured once the server listens (see the header). */
let refreshShape: { headers: string[]; body: string } | null = null

const server = createServer(async (req, res) => {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q < 0 ? url : url.slice(0, q)
  if (path === '/api/public') return res.writeHead(200, JSON_HEADERS).end('{"hello":"world"}')
  // The control: no authentication, but the answer /api/me gives (the same JSON work and bytes).
  if (path === '/api/public-as-me') return res.writeHead(200, JSON_HEADERS).end(JSON.stringify({ user: { id: alice.id, username: alice.username } }))
  if (path === '/api/refresh-control' && refreshShape) return res.writeHead(200, refreshShape.headers).end(refreshShape.body)
  if (path === '/api/me' || path === '/api/transfer') {
    const g = await bastion.guard(requestHead(req), contextOf(req))
    if (!g.ok) return writeWebResponse(res, g.response, req.method)
    if (path === '/api/me') return res.writeHead(200, JSON_HEADERS).end(JSON.stringify({ user: { id: g.identity.userId, username: g.identity.username } }))
    if (req.method !== 'POST') return res.writeHead(404, JSON_HEADERS).end('{"error":{"code":"not_found","message":"Not found."}}')
    let body: unknown
    try {
      body = await readJson(req)
    } catch {
      return res.writeHead(400, JSON_HEADERS).end('{"error":{"code":"bad_request","message":"Bad JSON."}}')
    }
    const r = transfer(g.identity.username, body)
    return res.writeHead(r.status, JSON_HEADERS).end(JSON.stringify(r.body))
  }
  auth(req, res)
})

async function seedSessions(n: number): Promise<void> {
  const t = Date.now()
  for (let i = 0; i < n; i += 1000) {
    const batch: Promise<unknown>[] = []
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      batch.push(
        store.createSession({
          id: randomBytes(16).toString('base64url'),
          userId: alice.id,
          kind: j % 2 ? 'cookie' : 'bearer',
          now: t,
          expiresAt: t + 30 * 86400_000,
          refreshExpiresAt: t + 14 * 86400_000,
          userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
          ip: `10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}`,
          tokenSalt: randomBytes(16).toString('base64url'),
        }),
      )
    }
    await Promise.all(batch)
  }
}

listen(server, async (url) => {
  const sessions = Number(process.env.BENCH_SESSIONS ?? 0)
  if (sessions > 0) {
    const started = Date.now()
    await seedSessions(sessions)
    memory.seedSeconds = (Date.now() - started) / 1000
    memory.rssAfterSeedMiB = rss()
    const tokens: string[] = []
    for (let i = 0; i < Number(process.env.BENCH_TOKENS ?? 1000); i++) tokens.push(await bearerLogin(url))
    const file = join(benchDir(), 'tokens.json')
    writeFileSync(file, JSON.stringify(tokens))
    return { memory, tokensFile: file }
  }
  const browser = await browserLogin(url)
  const shaper = await browserLogin(url)
  const refreshed = await fetch(`${url}/auth/refresh`, {
    method: 'POST',
    headers: { cookie: `__Secure-refresh=${shaper.refresh}; __Host-csrf=${shaper.csrf}`, 'x-csrf-token': shaper.csrf },
  })
  if (refreshed.status !== 200) throw new Error(`the refresh the control copies answered ${refreshed.status}`)
  const headers: string[] = []
  refreshed.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && name !== 'date' && name !== 'connection' && name !== 'keep-alive' && name !== 'content-length') headers.push(name, value)
  })
  for (const c of refreshed.headers.getSetCookie()) headers.push('set-cookie', c)
  refreshShape = { headers, body: await refreshed.text() }
  return { ...browser, bearer: await bearerLogin(url) }
})
