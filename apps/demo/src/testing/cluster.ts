/**
 * Several demo processes (`npm start`, each its own process) sharing one
 * PostgreSQL database and one Redis, as a load balancer in front of them
 * would see them, and a browser whose requests the test sends to whichever
 * instance it names.
 */
import { randomBytes, randomInt } from 'node:crypto'
import pg from 'pg'
import { Browser, type Res, type RequestOptions } from '../../../../packages/server/src/testing/harness.ts'
import { startDemo, type Demo } from './start-demo.ts'

/** The origin browsers use: the load balancer's, not any instance's. */
export const PUBLIC_ORIGIN = 'http://localhost:8080'
export const SECRET = 'cluster-test-secret-' + 'x'.repeat(32)

export interface ClusterOptions {
  instances: number
  databaseUrl: string
  redisUrl?: string
  env?: Record<string, string>
  /** Extra environment of instance `i` (e.g. its own path to Redis). */
  envOf?: (i: number) => Record<string, string>
}

/** Starts the instances together (they race to migrate, seed and make the first key, as a real rollout does). */
export async function startCluster(options: ClusterOptions): Promise<Demo[]> {
  const env: Record<string, string> = {
    DATABASE_URL: options.databaseUrl,
    BASTION_SECRET: SECRET,
    BASTION_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    // Behind the balancer: the client address comes from X-Forwarded-For, so each test run counts its own.
    BASTION_TRUST_PROXY: '1',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  }
  const started = await Promise.allSettled(Array.from({ length: options.instances }, (_, i) => startDemo({ ...env, ...options.envOf?.(i) })))
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const failed = started.find((s) => s.status === 'rejected')
  if (failed) {
    await Promise.all(ok.map((d) => d.stop().catch(() => null)))
    throw (failed as PromiseRejectedResult).reason
  }
  return ok
}

/** A client address of this run only, so Redis counters left by another run (their window is 15 minutes) never count. */
export const runAddress = (): string => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`

/** A browser behind the balancer: `via(instance)` routes its next requests there. */
export class BalancedBrowser {
  private readonly target = { url: '', origin: PUBLIC_ORIGIN }
  readonly browser = new Browser(this.target)
  constructor(readonly address = runAddress()) {}

  private instance: Demo | undefined

  via(instance: Demo): this {
    this.target.url = instance.bankUrl
    this.instance = instance
    return this
  }

  request(method: string, path: string, opts: RequestOptions = {}): Promise<Res> {
    return this.browser.request(method, path, { ...opts, headers: { 'X-Forwarded-For': this.address, ...opts.headers } })
  }

  async signIn(username: string, password: string): Promise<Res> {
    await this.request('GET', '/auth/csrf')
    const res = await this.request('POST', '/auth/login', { body: { username, password } })
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}\nthe instance's last output:\n${this.instance?.output().slice(-2000)}`)
    return res
  }
}

export const uniqueUser = (): string => `u${randomBytes(5).toString('hex')}`

/** Sum and minimum of every balance, read from the database itself. */
export async function ledgerTotals(databaseUrl: string): Promise<{ total: number; min: number; transfers: number }> {
  const c = new pg.Client({ connectionString: databaseUrl })
  await c.connect()
  try {
    const { rows } = await c.query<{ total: string; min: string; transfers: string }>(
      'SELECT SUM(balance) AS total, MIN(balance) AS min, (SELECT COUNT(*) FROM bank_transfers) AS transfers FROM bank_accounts',
    )
    return { total: Number(rows[0]!.total), min: Number(rows[0]!.min), transfers: Number(rows[0]!.transfers) }
  } finally {
    await c.end()
  }
}

/** Polls `probe` every `everyMs` until it is true; the time it took, or null after `limitMs`. */
export async function within(limitMs: number, probe: () => Promise<boolean>, everyMs = 20): Promise<number | null> {
  const start = performance.now()
  while (performance.now() - start <= limitMs) {
    if (await probe()) return performance.now() - start
    await new Promise((r) => setTimeout(r, everyMs))
  }
  return null
}

/**
 * How long until `node` refuses (401) a request carrying `access` as its
 * access cookie, asked every `everyMs` by a browser of its own; null after
 * `limitMs`. What a revocation elsewhere must bring about.
 */
export function accessRefusedWithin(node: Demo, access: string, limitMs: number, everyMs = 20): Promise<number | null> {
  const probe = new BalancedBrowser()
  return within(
    limitMs,
    async () => {
      probe.browser.setCookie('__Host-access', access) // a 401 may have cleared it
      return (await probe.via(node).request('GET', '/api/me')).status === 401
    },
    everyMs,
  )
}
