/**
 * The per-request verification path alone, in operations per second, to see
 * where the time of an authenticated request goes (no HTTP, no sockets).
 * Each step is timed in a bounded loop (BENCH_MICRO_MS per step, default 400 ms).
 *
 * Run alone: `node --import tsx bench/micro.ts` (prints JSON with `--json`).
 */
import { createSecretKey, generateKeyPairSync, randomUUID, sign as nodeSign } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { importJWK, jwtVerify } from 'jose'
import jwt from 'jsonwebtoken'
import { createBastion } from '../packages/server/src/bastion.ts'
import { requestHead, contextOf } from '../packages/server/src/adapters/node.ts'
import { deriveKey } from '../packages/server/src/crypto/secret.ts'
import { unmaskToken, verifyCsrfToken } from '../packages/server/src/csrf/token.ts'
import { safeEqual } from '../packages/server/src/crypto/encoding.ts'
import { parseCookies } from '../packages/server/src/http/cookies.ts'
import { requestInfo } from '../packages/server/src/guards/request-info.ts'
import { verifyProof } from '../packages/server/src/dpop/proof.ts'
import { Keyring } from '../packages/server/src/keys/keyring.ts'
import { refreshTokenFor } from '../packages/server/src/sessions.ts'
import { AccessCookie } from '../packages/server/src/tokens/access-cookie.ts'
import { AccessTokens } from '../packages/server/src/tokens/access-token.ts'
import { sqliteStore } from '../packages/server/src/stores/sqlite/index.ts'

export interface MicroRow {
  name: string
  opsPerSec: number
  nsPerOp: number
}

const SECRET = 'bench-secret-bench-secret-bench-secret-0'
export let sink: unknown

/** Runs `fn` in batches until `ms` have passed (or `maxOps`); returns ops/s. */
async function time(name: string, fn: () => unknown, ms: number, maxOps = 5_000_000): Promise<MicroRow> {
  for (let i = 0; i < 2000; i++) await fn() // warm-up (JIT)
  let ops = 0
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(ms) * 1_000_000n
  let now = start
  while (now < deadline && ops < maxOps) {
    for (let i = 0; i < 200; i++) {
      const r = fn()
      if (r instanceof Promise) await r
    }
    ops += 200
    now = process.hrtime.bigint()
  }
  const ns = Number(now - start) / ops
  return { name, opsPerSec: Math.round(1e9 / ns), nsPerOp: Math.round(ns) }
}

/** Something shaped like an IncomingMessage, enough for `requestHead`. */
function fakeRequest(method: string, url: string, headers: Record<string, string>): IncomingMessage {
  return { method, url, headers, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage
}

export async function runMicro(ms = Number(process.env.BENCH_MICRO_MS ?? 400)): Promise<MicroRow[]> {
  const store = sqliteStore({ file: ':memory:' })
  const bastion = await createBastion({ store, secret: SECRET, accessTtl: 3600, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
  await bastion.createUser('alice', 'alice-password-1')
  // A browser login through the real endpoints, for a real cookie pair.
  const csrfRes = await bastion.handle(new Request('http://localhost/auth/csrf'))
  const pre = csrfRes!.headers.getSetCookie()[0]!.split(';')[0]!
  const login = await bastion.handle(
    new Request('http://localhost/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: pre, 'x-csrf-token': pre.split('=')[1]! },
      body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
    }),
  )
  const jar = Object.fromEntries(login!.headers.getSetCookie().map((c) => c.split(';')[0]!.split(/=(.*)/s).slice(0, 2) as [string, string]))
  const access = jar['__Host-access']!
  const csrf = jar['__Host-csrf']!
  const sessionId = (JSON.parse(await login!.text()) as { session: { id: string } }).session.id
  const cookieHeader = `__Host-access=${access}; __Host-csrf=${csrf}`
  // What a real browser also sends to the API: a few first-party cookies of the app.
  const busyCookieHeader = `_ga=GA1.1.1234567890.1700000000; theme=dark; ${cookieHeader}; consent=yes`

  const getHead = requestHead(fakeRequest('GET', '/api/me', { host: 'localhost', cookie: cookieHeader }))
  const postReq = fakeRequest('POST', '/api/transfer', { host: 'localhost', cookie: cookieHeader, 'x-csrf-token': csrf, origin: 'http://localhost', 'content-type': 'application/json' })
  const postHead = requestHead(postReq)
  const ctx = { remoteAddress: '127.0.0.1' }

  // The uncached path: a second AccessTokens over the same keys, fresh tokens each verified once.
  const keyring = new Keyring(store, deriveKey(SECRET, 'key-wrap'), 'EdDSA', 3720, Date.now)
  await keyring.init()
  const issuer = bastion.config.issuer
  const tokens = new AccessTokens(keyring, { issuer, audience: bastion.config.audience, ttl: 3600, now: Date.now, cacheSize: 1_000_000 })
  const fresh: string[] = []
  for (let i = 0; i < Number(process.env.BENCH_MICRO_TOKENS ?? 3000); i++) fresh.push((await tokens.sign({ userId: 'u', username: 'alice', sessionId, clientId: 'bastion-web' })).token)
  const cachedTokens = new AccessTokens(keyring, { issuer, audience: bastion.config.audience, ttl: 3600, now: Date.now })
  await cachedTokens.verify(access)
  // Each lookup gets its own copy of the token string, as each request does (no cached hash).
  const accessCopy = () => (' ' + access).slice(1)
  const jwk = (await bastion.handle(new Request('http://localhost/.well-known/jwks.json')))!
  const publicKey = await importJWK(((await jwk.json()) as { keys: Record<string, unknown>[] }).keys[0]!, 'EdDSA')
  const peerSecret = 'peer-secret-peer-secret-peer-secret-0000'
  const peerToken = jwt.sign({ sub: 'u1', name: 'alice' }, peerSecret, { algorithm: 'HS256', expiresIn: 3600 })
  const csrfKey = deriveKey(SECRET, 'csrf')

  const rows: MicroRow[] = []
  const step = async (name: string, fn: () => unknown, maxOps?: number) => {
    rows.push(await time(name, fn, ms, maxOps))
  }
  await step('parse Cookie header (2 cookies)', () => parseCookies(cookieHeader))
  await step('parse Cookie header (5 cookies)', () => parseCookies(busyCookieHeader))
  // Kept in a variable that outlives the loop, so that the allocation is not optimised away.
  await step('requestHead(req) (Node adapter view)', () => (sink = requestHead(postReq)))
  await step('requestInfo (cookies, client, method)', () => requestInfo(getHead, ctx, bastion.config))
  await step('CSRF: unmask + compare + HMAC verify', () => {
    const presented = unmaskToken(csrf)
    return presented !== null && safeEqual(presented, csrf) && verifyCsrfToken(csrfKey, csrf, { kind: 'session', sessionId })
  })
  await step('token verify, cached (bounded Map, whole token compared)', () => cachedTokens.cached(accessCopy()))
  let i = 0
  // Each token verified once: the warm-up takes the first 2000 (or all but a tenth of them).
  await step('token verify, uncached (Ed25519 + claims, jose)', () => tokens.verify(fresh[i++ % fresh.length]!), Math.max(fresh.length - 2000, Math.floor(fresh.length / 10)))
  await step('jose jwtVerify alone (Ed25519)', () => jwtVerify(access, publicKey))
  await step('jsonwebtoken HS256 verify, secret string (peer)', () => jwt.verify(peerToken, peerSecret, { algorithms: ['HS256'] }))
  const peerKey = createSecretKey(Buffer.from(peerSecret))
  await step('jsonwebtoken HS256 verify, KeyObject (peer)', () => jwt.verify(peerToken, peerKey, { algorithms: ['HS256'] }))
  await step('bastion.guard GET (cookie, cached token)', () => bastion.guard(getHead, ctx))
  await step('bastion.guard POST (cookie + Origin + CSRF)', () => bastion.guard(postHead, ctx))
  await step('requestHead + guard GET (what a Node route pays)', () =>
    bastion.guard(requestHead(fakeRequest('GET', '/api/me', { host: 'localhost', cookie: cookieHeader })), contextOf(postReq)),
  )
  // The encrypted access cookie (accessToken.format 'jwe'): what it adds to the cached and the uncached path.
  const jweStore = sqliteStore({ file: ':memory:' })
  const jweBastion = await createBastion({ store: jweStore, secret: SECRET, accessTtl: 3600, accessToken: { format: 'jwe' }, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
  await jweBastion.createUser('alice', 'alice-password-1')
  const jweCsrf = await jweBastion.handle(new Request('http://localhost/auth/csrf'))
  const jwePre = jweCsrf!.headers.getSetCookie()[0]!.split(';')[0]!
  const jweLogin = await jweBastion.handle(
    new Request('http://localhost/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: jwePre, 'x-csrf-token': jwePre.split('=')[1]! },
      body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
    }),
  )
  const jweJar = Object.fromEntries(jweLogin!.headers.getSetCookie().map((c) => c.split(';')[0]!.split(/=(.*)/s).slice(0, 2) as [string, string]))
  const jweHead = requestHead(fakeRequest('GET', '/api/me', { host: 'localhost', cookie: `__Host-access=${jweJar['__Host-access']}; __Host-csrf=${jweJar['__Host-csrf']}` }))
  if (jweJar['__Host-access']!.split('.').length !== 5) throw new Error('micro: the jwe server did not set a JWE cookie')
  // Measured side by side: a second Bastion in the process makes the shared code paths polymorphic, so each row
  // is compared with the jws guard measured again here, not with the one above.
  await step('bastion.guard GET (jws cookie, cached), beside jwe', () => bastion.guard(getHead, ctx))
  await step('bastion.guard GET (jwe cookie, cached)', () => jweBastion.guard(jweHead, ctx))
  const jweKeyring = new Keyring(jweStore, deriveKey(SECRET, 'key-wrap'), 'EdDSA', 3720, Date.now)
  await jweKeyring.init()
  const jweTokens = new AccessTokens(jweKeyring, {
    issuer: jweBastion.config.issuer,
    audience: jweBastion.config.audience,
    ttl: 3600,
    now: Date.now,
    cacheSize: 1_000_000,
    cookie: new AccessCookie({ format: 'jwe', secret: SECRET, keys: jweKeyring }),
  })
  const freshJwe: string[] = []
  for (let k = 0; k < Number(process.env.BENCH_MICRO_TOKENS ?? 3000); k++) freshJwe.push((await jweTokens.sign({ userId: 'u', username: 'alice', sessionId, clientId: 'bastion-web' })).cookie)
  let j = 0
  await step('token verify, uncached, jwe cookie (A256GCM + Ed25519)', () => jweTokens.verifyCookie(freshJwe[j++ % freshJwe.length]!), Math.max(freshJwe.length - 2000, Math.floor(freshJwe.length / 10)))
  await jweBastion.close()
  await jweStore.close()
  const check = await bastion.guard(postHead, ctx)
  if (!check.ok) throw new Error(`micro: the POST guard refused: ${check.response.status}`)

  // Refresh through the core (no HTTP, SQLite in memory), unbound and device-bound in the same run: the difference
  // is one ES256 proof verified and its jti remembered. Proofs are signed beforehand (node:crypto), outside the timing.
  const REFRESH_OPS = 3000
  const device = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const deviceJwk = device.publicKey.export({ format: 'jwk' })
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const proofFor = (path: string) => {
    const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: deviceJwk })}.${b64({ htm: 'POST', htu: `http://localhost${path}`, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })}`
    return `${input}.${nodeSign('sha256', Buffer.from(input), { key: device.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
  }
  const refresher = async (bound: boolean) => {
    const base = { host: 'localhost', origin: 'http://localhost' }
    const pre = (await bastion.handle(new Request('http://localhost/auth/csrf', { headers: base })))!.headers.getSetCookie()[0]!.split(';')[0]!
    const res = (await bastion.handle(
      new Request('http://localhost/auth/login', {
        method: 'POST',
        headers: { ...base, 'content-type': 'application/json', cookie: pre, 'x-csrf-token': pre.split('=')[1]!, ...(bound ? { dpop: proofFor('/auth/login') } : {}) },
        body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
      }),
      ctx,
    ))!
    const got = Object.fromEntries(res.headers.getSetCookie().map((c) => c.split(';')[0]!.split(/=(.*)/s).slice(0, 2) as [string, string]))
    let refresh = got['__Secure-refresh']!
    const csrfCookie = got['__Host-csrf']!
    const proofs = bound ? Array.from({ length: REFRESH_OPS + 2200 }, () => proofFor('/auth/refresh')) : []
    let k = 0
    return async () => {
      const headers: Record<string, string> = { ...base, cookie: `__Secure-refresh=${refresh}; __Host-csrf=${csrfCookie}`, 'x-csrf-token': csrfCookie }
      if (bound) headers.dpop = proofs[k++]!
      const r = (await bastion.handle(new Request('http://localhost/auth/refresh', { method: 'POST', headers }), ctx))!
      if (r.status !== 200) throw new Error(`micro: refresh answered ${r.status} ${await r.text()}`)
      refresh = /^__Secure-refresh=([^;]*)/.exec(r.headers.getSetCookie().find((c) => c.startsWith('__Secure-refresh='))!)![1]!
    }
  }
  await step('refresh via handle(), unbound session', await refresher(false), REFRESH_OPS)
  await step('refresh via handle(), device-bound (+ DPoP proof)', await refresher(true), REFRESH_OPS)
  // Parts of a refresh alone (the store here is SQLite in memory: no fsync, unlike the bench's file).
  await step('refresh part: access token signed (Ed25519, node:crypto)', () => tokens.sign({ userId: 'u', username: 'alice', sessionId, clientId: 'bastion-web' }))
  const macKey = deriveKey(SECRET, 'refresh-generation')
  let g = 0
  await step('refresh part: a refresh token\'s MAC (HMAC-SHA256)', () => refreshTokenFor(macKey, sessionId, 'salt-salt-salt-salt-00', g++))
  await step('refresh part: session read (SQLite in memory)', () => store.findSession(sessionId))
  const proofPool = Array.from({ length: REFRESH_OPS + 2200 }, () => proofFor('/auth/refresh'))
  let q = 0
  await step('DPoP verifyProof alone (ES256 + thumbprint, jose)', () => verifyProof(proofPool[q++]!, { method: 'POST', url: 'http://localhost/auth/refresh', now: Date.now() }), REFRESH_OPS)
  await bastion.close()
  await store.close()
  return rows
}

export function printMicro(rows: MicroRow[], out: (s: string) => void): void {
  for (const r of rows) out(`  ${r.name.padEnd(52)} ${r.opsPerSec.toLocaleString('en-US').padStart(12)} ops/s  ${(r.nsPerOp / 1000).toFixed(2).padStart(8)} µs/op\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await runMicro()
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
  else printMicro(rows, (s) => process.stdout.write(s))
}
