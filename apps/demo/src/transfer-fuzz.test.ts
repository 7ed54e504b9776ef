// The bank's state-changing endpoint under seeded property-based fuzzing:
// any body, content type and CSRF header, from a signed-in browser. Money
// moves only through a 201, exactly by the amount it names, never below zero,
// and the sum of all balances never changes. (BASTION_FUZZ_RUNS scales the
// count, as for the server's adversarial suite: `npm run fuzz`.)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { createBastion, type Bastion } from '@bastion/server'
import { sqliteStore } from '@bastion/server/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBankApp } from './bank.ts'
import { SecurityEvents } from './events.ts'
import { sqliteLedger, type Ledger } from './ledger.ts'

const ORIGIN = 'http://localhost:3000'
const SCALE = Math.max(1, Number(process.env.BASTION_FUZZ_RUNS ?? 1) || 1)
const SEED = Number(process.env.BASTION_FUZZ_SEED ?? 20_261_123)

let dir: string
let bastion: Bastion
let ledger: Ledger
let app: (request: Request) => Promise<Response>
const jar = new Map<string, string>()
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
let aliceId: string
let malloryId: string

async function send(method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}): Promise<Response> {
  const request = new Request(ORIGIN + path, {
    method,
    body: init.body,
    headers: { 'Sec-Fetch-Site': 'same-origin', ...(method === 'GET' ? {} : { Origin: ORIGIN }), Cookie: cookieHeader(), ...init.headers },
  })
  const res = (await bastion.handle(request)) ?? (await app(request))
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';')
    const eq = pair!.indexOf('=')
    if (/Max-Age=0/.test(line)) jar.delete(pair!.slice(0, eq))
    else jar.set(pair!.slice(0, eq), pair!.slice(eq + 1))
  }
  return res
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bastion-transfer-fuzz-'))
  bastion = await createBastion({ store: sqliteStore({ file: join(dir, 'b.sqlite') }), secret: 't'.repeat(40), argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
  ledger = sqliteLedger(':memory:')
  aliceId = (await bastion.createUser('alice', 'alice-password-1')).id
  malloryId = (await bastion.createUser('mallory', 'mallory-password-1')).id
  await ledger.ensureAccount(aliceId, 'alice', 100_000)
  await ledger.ensureAccount(malloryId, 'mallory', 0)
  const publicDir = resolve(fileURLToPath(new URL('.', import.meta.url)), '../public')
  const bank = createBankApp({ bastion, ledger, events: new SecurityEvents(), publicDir, clientBundle: join(publicDir, 'app.js') })
  app = (request) => bank(request, {})
  await send('GET', '/auth/csrf')
  const login = await send('POST', '/auth/login', {
    body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': jar.get('__Host-csrf')! },
  })
  expect(login.status).toBe(200)
})
afterAll(async () => {
  await ledger?.close()
  await bastion?.close()
  await bastion?.config.store.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

const amount = fc.oneof(
  fc.integer({ min: -5, max: 3000 }),
  fc.constantFrom(0, -0, 0.5, 1.0000001, 1e21, -1e21, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1_000_000_000_01, 100_001),
  fc.double(),
  fc.constantFrom('100', '1e2', '0x10', null, true, [], {}, [100]),
)
const to = fc.oneof(
  fc.constantFrom('mallory', 'MALLORY', ' mallory ', 'ｍａｌｌｏｒｙ', 'alice', 'nobody', '', 'mallory\u0000', 'mallory\u202e', '__proto__', 'a'.repeat(65)),
  fc.string({ maxLength: 20 }),
  fc.constantFrom(null, 1, ['mallory'], { username: 'mallory' }),
)
const transfer = fc.record({
  body: fc.oneof(
    { weight: 6, arbitrary: fc.record({ to, amount }).map((b) => JSON.stringify(b)) },
    // Plausible transfers (any spelling of the payee), so that many cases reach the ledger and succeed.
    { weight: 5, arbitrary: fc.record({ to: fc.constantFrom('mallory', 'MALLORY', 'ｍａｌｌｏｒｙ', ' mallory '), amount: fc.integer({ min: 1, max: 800 }) }).map((b) => JSON.stringify(b)) },
    { weight: 1, arbitrary: fc.record({ to, amount, extra: fc.jsonValue() }).map((b) => JSON.stringify(b)) },
    { weight: 1, arbitrary: fc.constantFrom('{"to":"mallory","amount":5,"amount":-5}', '{"to":"mallory","to":"alice","amount":5}', 'to=mallory&amount=5', '[]', 'null', '{', 'x'.repeat(5000)) },
  ),
  contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8'),
  csrf: fc.constantFrom('real', 'real', 'real', 'none', 'wrong'),
  method: fc.constantFrom('POST', 'POST', 'POST', 'PUT', 'GET'),
})

describe('POST /api/transfer under fuzzing', () => {
  it('money moves only through a 201, by exactly its amount; balances never go negative; the total never changes', async () => {
    const total = await ledger.total()
    // Positive control: a legitimate transfer works and moves exactly its amount.
    const control = await send('POST', '/api/transfer', { body: JSON.stringify({ to: 'mallory', amount: 1 }), headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': jar.get('__Host-csrf')! } })
    expect(control.status).toBe(201)
    let expectedAlice = 100_000 - 1
    let expectedMallory = 1
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(transfer, async (c) => {
        const headers: Record<string, string> = { 'Content-Type': c.contentType }
        if (c.csrf === 'real') headers['X-CSRF-Token'] = jar.get('__Host-csrf')!
        if (c.csrf === 'wrong') headers['X-CSRF-Token'] = 's.' + 'A'.repeat(22) + '.' + 'B'.repeat(43)
        const res = await send(c.method, '/api/transfer', { body: c.method === 'GET' ? undefined : c.body, headers })
        const text = await res.text()
        expect([201, 400, 403, 404, 413], text).toContain(res.status)
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        expect(text).not.toMatch(/\n\s+at /)
        if (res.status === 201) {
          const moved = JSON.parse(text).transfer
          expect(moved.amount).toBeGreaterThan(0)
          expect(Number.isSafeInteger(moved.amount)).toBe(true)
          expectedAlice -= moved.amount
          if (moved.to === 'mallory') expectedMallory += moved.amount
        }
        expect(await ledger.balanceOf(aliceId)).toBe(expectedAlice)
        expect(await ledger.balanceOf(malloryId)).toBe(expectedMallory)
        expect(await ledger.total()).toBe(total)
      }),
      { seed: SEED, numRuns: 150 * SCALE, endOnFailure: true },
    )
    expect(expectedAlice).toBeGreaterThanOrEqual(0)
    // The cases reach the ledger: some transfers went through, and each family of refusal was seen.
    for (const status of [201, 400, 403, 404]) expect(statuses.get(status) ?? 0, `status ${status}: ${JSON.stringify([...statuses])}`).toBeGreaterThan(0)
  })
})

describe('POST /api/transfer with an endless body', () => {
  it('answers 413 after reading little more than its 4 KiB limit, not the whole body', async () => {
    let pulled = 0
    const chunk = new TextEncoder().encode('{"to":"mallory","amount":1,"pad":"' + 'x'.repeat(1000))
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += chunk.byteLength
        if (pulled > 50_000_000) return controller.close() // a bound, should the server read on
        controller.enqueue(chunk)
      },
    })
    const before = await ledger.total()
    const request = new Request(ORIGIN + '/api/transfer', {
      method: 'POST',
      body: endless,
      duplex: 'half',
      headers: { 'Sec-Fetch-Site': 'same-origin', Origin: ORIGIN, Cookie: cookieHeader(), 'Content-Type': 'application/json', 'X-CSRF-Token': jar.get('__Host-csrf')! },
    } as RequestInit)
    const res = await app(request)
    expect(res.status).toBe(413)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('payload_too_large')
    expect(pulled).toBeLessThan(64 * 1024)
    expect(await ledger.total()).toBe(before)
  })
})
