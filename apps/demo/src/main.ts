/**
 * The demo bank: `npm start`. Bastion in front of a tiny bank API and its SPA
 * on http://localhost:$PORT, and a cross-site attacker page on
 * http://127.0.0.1:$ATTACKER_PORT that tries every forgery against it.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, createBastion, oauthFromEnv, optionsFromEnv, resolveSecret, type Bastion } from '@bastion/server'
import { nodeListener } from '@bastion/server/node'
import { composeHandler } from '@bastion/server/web'
import { storeFromEnv } from '@bastion/server/stores/env'
import { createAttackerApp } from './attacker.ts'
import { createBankApp } from './bank.ts'
import { DEMO_USERS } from './demo-users.ts'
import { refusalOf, SecurityEvents } from './events.ts'
import { sqliteLedger, type Ledger } from './ledger.ts'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../../..')


function port(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be a port number, got "${raw}".`)
  return n
}

const isLoopback = (host: string) => ['localhost', '127.0.0.1', '::1', '[::1]'].includes(host) || host.endsWith('.localhost')

/** A self-signed certificate for https://localhost, made once with openssl (for Safari, which refuses Secure cookies on http://localhost). */
function localCertificate(dataDir: string): { key: Buffer; cert: Buffer } {
  const dir = join(dataDir, 'tls')
  const key = join(dir, 'localhost-key.pem')
  const cert = join(dir, 'localhost.pem')
  if (!existsSync(key) || !existsSync(cert)) {
    mkdirSync(dir, { recursive: true })
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '365', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  }
  return { key: readFileSync(key), cert: readFileSync(cert) }
}

async function redisParts() {
  const url = process.env.REDIS_URL
  if (!url) return {}
  const { redisRateLimits, redisRevocationBus, redisReplayCache } = await import('@bastion/server/redis')
  return { rateLimits: redisRateLimits({ url }), revocationBus: redisRevocationBus({ url }), replayCache: redisReplayCache({ url }) }
}

/** The bank's money beside Bastion's own store: PostgreSQL with `DATABASE_URL`, else `bank.sqlite` in the data directory. */
async function ledgerFromEnv(env: NodeJS.ProcessEnv, dataDir: string): Promise<Ledger> {
  if (!env.DATABASE_URL) return sqliteLedger(join(dataDir, 'bank.sqlite'))
  const { postgresLedger } = await import('./ledger-postgres.ts')
  const ledger = postgresLedger({ connectionString: env.DATABASE_URL })
  await ledger.ready
  return ledger
}

/** Several instances starting at once on one database may all seed: the loser of the race finds the winner's user. */
async function createDemoUser(bastion: Bastion, username: string, password: string) {
  try {
    return await bastion.createUser(username, password)
  } catch (e) {
    const user = await bastion.findUser(username)
    if (user) return user
    throw e
  }
}

export async function main(): Promise<void> {
  const env = process.env
  const PORT = port('PORT', 3000)
  const HOST = env.HOST || 'localhost'
  const ATTACKER_PORT = port('ATTACKER_PORT', PORT === 0 ? 0 : PORT + 1)
  const https = ['1', 'true'].includes((env.BASTION_HTTPS ?? '').toLowerCase())
  const dataDir = resolve(env.BASTION_DATA_DIR || './data')
  const envOptions = optionsFromEnv(env)
  if (!https && !isLoopback(HOST) && !envOptions.publicOrigin?.startsWith('https://')) {
    throw new ConfigError(
      `HOST=${HOST} would serve __Host-/Secure cookies over plain HTTP on a host that is not localhost; browsers drop them. ` +
        'Put a TLS proxy in front and set BASTION_PUBLIC_ORIGIN=https://… (and BASTION_TRUST_PROXY=1), set BASTION_HTTPS=1, or use HOST=localhost.',
    )
  }
  const secret = resolveSecret(env, dataDir)
  const { store } = await storeFromEnv(env, dataDir)
  const { replayCache, ...redis } = await redisParts()
  const bastion = await createBastion({
    ...envOptions,
    ...redis,
    // BASTION_DEVICE_BINDING, with DPoP proofs remembered in Redis when there is one (a proof used on one instance is refused on all).
    deviceBinding: { policy: envOptions.deviceBinding, replayCache },
    store,
    secret,
    oauth: oauthFromEnv(env),
    log: (e) => {
      if (e.level !== 'info' || env.BASTION_LOG === 'debug') process.stderr.write(JSON.stringify({ t: new Date().toISOString(), ...e }) + '\n')
    },
  })
  const ledger = await ledgerFromEnv(env, dataDir)
  for (const u of DEMO_USERS) {
    const user = (await bastion.findUser(u.username)) ?? (await createDemoUser(bastion, u.username, u.password))
    await ledger.ensureAccount(user.id, user.username, u.balance)
  }
  const events = new SecurityEvents()
  let attackerOrigin: string | undefined
  const bank = createBankApp({
    attackerOrigin: () => attackerOrigin,
    bastion,
    ledger,
    events,
    publicDir: join(root, 'apps/demo/public'),
    clientBundle: join(root, 'packages/client/dist/index.js'),
  })
  const handler = composeHandler(bastion, bank)
  // The bank records its own refusals; the auth endpoints' are recorded here, for the attacker page's scoreboard.
  const listener = nodeListener(
    async (request, ctx) => {
      const response = await handler(request, ctx)
      if (response.status >= 400 && new URL(request.url).pathname.startsWith(bastion.config.basePath + '/')) {
        events.record(await refusalOf(request, response, bastion.config.cookies.access.name))
      }
      return response
    },
    { scheme: https ? 'https' : 'http' },
  )
  const server: Server = https ? createHttpsServer(localCertificate(dataDir), listener) : createHttpServer(listener)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(PORT, HOST, ok))
  const bankPort = (server.address() as { port: number }).port
  const bankOrigin = `${https ? 'https' : 'http'}://${HOST === '127.0.0.1' ? 'localhost' : HOST}:${bankPort}`

  const attackerHandler = createAttackerApp({
    bankOrigin,
    observe: async () => ({
      balances: Object.fromEntries(await Promise.all(DEMO_USERS.map(async (u) => [u.username, (await ledger.balanceByUsername(u.username)) ?? 0]))),
      events: events.recent(20),
    }),
  })
  const attacker = createHttpServer(nodeListener(attackerHandler))
  await new Promise<void>((ok, fail) => attacker.once('error', fail).listen(ATTACKER_PORT, '127.0.0.1', ok))
  const attackerPort = (attacker.address() as { port: number }).port
  attackerOrigin = `http://127.0.0.1:${attackerPort}`

  process.stdout.write(`Bastion demo bank listening on ${bankOrigin} (attacker page on http://127.0.0.1:${attackerPort}, data in ${dataDir})\n`)

  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    server.closeAllConnections?.()
    attacker.closeAllConnections?.()
    Promise.all([new Promise((r) => server.close(r)), new Promise((r) => attacker.close(r))])
      .then(async () => {
        await bastion.close()
        await store.close()
        await ledger.close()
      })
      .finally(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`Bastion did not start: ${e.message}\n`)
  } else {
    process.stderr.write(`Bastion did not start: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  }
  process.exit(1)
})
