/**
 * Real services for the tests that need them, and a way to take them away:
 * a database of the test's own on the PostgreSQL at BASTION_TEST_DATABASE_URL,
 * and a TCP proxy in front of PostgreSQL or Redis that a test can cut (as
 * when the server dies or the network drops), black-hole (a server that
 * accepts and never answers) and restore, without touching the service
 * other suites share.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import pg from 'pg'

export const TEST_DATABASE_URL = process.env.BASTION_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const TEST_REDIS_URL = process.env.BASTION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  url: string
  name: string
  /** Drops it (terminating any connection left). */
  drop(): Promise<void>
}

/** Runs one statement on a connection of its own to the test PostgreSQL (creating or dropping a database or schema). */
export async function adminQuery(sql: string, connectionString = TEST_DATABASE_URL): Promise<void> {
  const c = new pg.Client({ connectionString })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

/** A fresh database for one test file, named `bastion_t_<random>`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `bastion_t_${randomBytes(6).toString('hex')}`
  await adminQuery(`CREATE DATABASE "${name}"`)
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  }
}

export type ProxyState = 'open' | 'cut' | 'blackhole'

export interface TcpProxy {
  /** The upstream URL with its host and port replaced by the proxy's. */
  url: string
  port: number
  /** Connections currently carried (or held, when black-holed). */
  readonly connections: number
  /** Drops every connection and refuses new ones (each is closed at once). */
  cut(): void
  /** Drops every connection; new ones are accepted and never answered. */
  blackhole(): void
  /** Carries connections again. */
  restore(): void
  close(): Promise<void>
}

/** A proxy on 127.0.0.1 in front of the host and port of `upstreamUrl`. */
export async function tcpProxy(upstreamUrl: string): Promise<TcpProxy> {
  const upstream = new URL(upstreamUrl)
  const target = { host: upstream.hostname, port: Number(upstream.port) }
  let state: ProxyState = 'open'
  const sockets = new Set<net.Socket>()
  const track = (s: net.Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
    s.on('error', () => {})
  }
  const dropAll = () => {
    for (const s of sockets) s.destroy()
  }

  const server = net.createServer((client) => {
    track(client)
    if (state === 'cut') return void client.destroy()
    if (state === 'blackhole') return
    const up = net.connect(target)
    track(up)
    client.pipe(up)
    up.pipe(client)
    client.once('close', () => up.destroy())
    up.once('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const url = new URL(upstreamUrl)
  url.hostname = '127.0.0.1'
  url.port = String(port)

  return {
    url: url.toString(),
    port,
    get connections() {
      return sockets.size
    },
    cut() {
      state = 'cut'
      dropAll()
    },
    blackhole() {
      state = 'blackhole'
      dropAll()
    },
    restore() {
      state = 'open'
      // Black-holed connections never got an upstream; their clients must reconnect.
      dropAll()
    },
    async close() {
      dropAll()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
