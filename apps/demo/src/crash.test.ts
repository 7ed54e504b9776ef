// A crash in the middle of a burst of refreshes and transfers: the server is
// killed with SIGKILL, restarted on the same files, and every session must be
// usable or cleanly revoked, with not one cent created or lost. Once per
// SQLite driver this Node loads (BASTION_SQLITE_DRIVER for the demo's store
// and ledger alike).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { availableSqliteDrivers, openSqlite, type SqliteDatabase } from '@bastion/server/sqlite'
import { afterAll, describe, expect, it } from 'vitest'
import { startDemo } from './testing/start-demo.ts'

const root = mkdtempSync(join(tmpdir(), 'bastion-crash-'))
const drivers = availableSqliteDrivers()
console.info(`crash test on Node ${process.version}, SQLite drivers: ${drivers.join(', ')}`)

/** Just enough of a browser: a cookie jar and the CSRF header. */
class Client {
  jar = new Map<string, string>()
  constructor(public url: string) {}
  private cookieHeader(path: string) {
    return [...this.jar].filter(([k]) => path.startsWith('/auth') || k !== '__Secure-refresh').map(([k, v]) => `${k}=${v}`).join('; ')
  }
  async send(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { cookie: this.cookieHeader(path), 'sec-fetch-site': 'same-origin', origin: this.url }
    const csrf = this.jar.get('__Host-csrf')
    if (csrf) headers['x-csrf-token'] = csrf
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(this.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq)
      if (/Max-Age=0/.test(c)) this.jar.delete(name)
      else this.jar.set(name, pair!.slice(eq + 1))
    }
    return res
  }
  async login(username: string, password: string) {
    await this.send('GET', '/auth/csrf')
    const res = await this.send('POST', '/auth/login', { username, password })
    expect(res.status).toBe(200)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

afterAll(() => rmSync(root, { recursive: true, force: true }))

const scalar = (db: SqliteDatabase, sql: string): unknown => Object.values(db.prepare(sql).get() ?? {})[0]

describe.each(drivers)('SIGKILL in the middle of refreshes and transfers, on %s', (driver) => {
  it('leaves every session usable or cleanly revoked, and the money where it was', async () => {
    const dataDir = join(root, driver.replace(/\W/g, '-'))
    mkdirSync(dataDir)
    const env = { BASTION_REFRESH_GRACE: '30', BASTION_SQLITE_DRIVER: driver }
    let demo = await startDemo(env, { dataDir })
    const users = [
      ['alice', 'alice-password-1', 'mallory'],
      ['mallory', 'mallory-password-1', 'alice'],
      ['alice', 'alice-password-1', 'mallory'],
      ['mallory', 'mallory-password-1', 'alice'],
    ] as const
    const clients = users.map(() => new Client(demo.bankUrl))
    await Promise.all(clients.map((c, i) => c.login(users[i]![0], users[i]![1])))
    // Give mallory something to send back.
    expect((await clients[0]!.send('POST', '/api/transfer', { to: 'mallory', amount: 5_000 })).status).toBe(201)

    const statuses: number[] = []
    let stop = false
    const burst = clients.map(async (c, i) => {
      for (let n = 0; n < 400 && !stop; n++) {
        try {
          const res =
            n % 3 === 0 ? await c.send('POST', '/auth/refresh') : await c.send('POST', '/api/transfer', { to: users[i]![2], amount: 1 + (n % 7) })
          statuses.push(res.status)
        } catch {
          return // the connection died with the server
        }
      }
    })
    // Killed once the burst is well under way (30 answers), however fast this machine is today; at most 10 s.
    const started = Date.now()
    while (statuses.length < 30 && Date.now() - started < 10_000) await sleep(5)
    await demo.kill()
    stop = true
    await Promise.all(burst)
    console.log(`burst: ${statuses.length} answers before the kill`)
    expect(statuses.length).toBeGreaterThan(20)
    expect(statuses.filter((s) => s >= 500)).toEqual([])

    demo = await startDemo(env, { dataDir })
    for (const c of clients) c.url = demo.bankUrl
    for (const c of clients) {
      const refreshed = await c.send('POST', '/auth/refresh')
      if (refreshed.status === 200) {
        expect((await c.send('GET', '/api/me')).status).toBe(200)
        expect((await c.send('POST', '/api/transfer', { to: 'nobody-here', amount: 1 })).status).toBe(404)
      } else {
        // Cleanly revoked: a clear 401, cookies cleared, nothing half-working.
        expect(refreshed.status).toBe(401)
        expect((await c.send('GET', '/api/me')).status).toBe(401)
      }
    }
    console.log(`after restart: ${clients.filter((c) => c.jar.has("__Secure-refresh")).length} of ${clients.length} sessions usable`)
    const usable = clients.filter((c) => c.jar.has('__Secure-refresh')).length
    expect(usable).toBeGreaterThan(0)

    expect(await demo.stop()).toBe(0)
    const bank = openSqlite(join(dataDir, 'bank.sqlite'), { driver, readonly: true })
    const { total, negative } = bank.prepare('SELECT SUM(balance) AS total, SUM(balance < 0) AS negative FROM accounts').get<{ total: number; negative: number }>()!
    const integrity = scalar(bank, 'PRAGMA integrity_check')
    bank.close()
    expect(total).toBe(100_000)
    expect(negative).toBe(0)
    expect(integrity).toBe('ok')
    const auth = openSqlite(join(dataDir, 'bastion.sqlite'), { driver, readonly: true })
    expect(scalar(auth, 'PRAGMA integrity_check')).toBe('ok')
    auth.close()
  }, 90_000)
})
