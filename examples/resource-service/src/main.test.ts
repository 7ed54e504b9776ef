// The example as an operator runs it: `npm start` with the environment, one
// line when ready, a clean exit on SIGTERM, a clear refusal of a bad setting.
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../../../packages/server/src/testing/harness.ts'
import { ConfigError, optionsFromEnv } from './config.ts'
import { bearerToken, orders } from './testing.ts'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')

interface Started {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
}

function run(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--conditions=@bastion/source', '--import', 'tsx', 'src/main.ts'], {
    cwd: packageDir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, exited }
}

async function readyUrl(p: Started): Promise<string> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const m = /listening on (http:\/\/\S+)/.exec(p.stdout())
    if (m) return m[1]!
    if (p.child.exitCode !== null) throw new Error(`exited ${p.child.exitCode}: ${p.stderr()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`not ready: ${p.stdout()} ${p.stderr()}`)
}

describe('the process', () => {
  let srv: TestServer
  beforeAll(async () => {
    srv = await startServer()
  })
  afterAll(async () => {
    await srv?.close()
  })

  it('logs one line with its URL when ready, answers GET /orders, exits 0 on SIGTERM', async () => {
    const p = run({ BASTION_JWKS_URL: `${srv.url}/.well-known/jwks.json`, BASTION_ISSUER: 'bastion', BASTION_AUDIENCE: 'bastion', PORT: '0', HOST: '127.0.0.1' })
    try {
      const url = await readyUrl(p)
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(p.stdout().trim().split('\n')).toHaveLength(1)
      const name = await srv.user()
      // The service runs on real time here, and so does this Bastion's clock (never advanced in this file).
      const res = await orders({ url }, await bearerToken(srv, name))
      expect(res.status, res.text).toBe(200)
      expect(res.body.user.username).toBe(name)
      expect((await orders({ url })).status).toBe(401)
      p.child.kill('SIGTERM')
      expect(await p.exited).toBe(0)
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL')
    }
  })

  it('refuses to start without its settings, saying which one, exit code 1', async () => {
    const p = run({ BASTION_ISSUER: 'bastion', BASTION_AUDIENCE: 'bastion', PORT: '0' })
    expect(await p.exited).toBe(1)
    expect(p.stderr()).toMatch(/BASTION_JWKS_URL is not set/)
  })

  it('refuses a plain-HTTP JWKS on a host that is not loopback', async () => {
    const p = run({ BASTION_JWKS_URL: 'http://auth.example.com/.well-known/jwks.json', BASTION_ISSUER: 'bastion', BASTION_AUDIENCE: 'bastion', PORT: '0' })
    expect(await p.exited).toBe(1)
    expect(p.stderr()).toMatch(/plain HTTP/)
  })
})

describe('optionsFromEnv', () => {
  const base = { BASTION_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json', BASTION_ISSUER: 'https://auth.example.com', BASTION_AUDIENCE: 'orders-api' }

  it('reads the four variables, PORT defaulting to 4000', () => {
    expect(optionsFromEnv(base)).toMatchObject({ jwksUrl: base.BASTION_JWKS_URL, issuer: base.BASTION_ISSUER, audience: 'orders-api', port: 4000 })
    expect(optionsFromEnv({ ...base, PORT: '8080' }).port).toBe(8080)
  })

  it('requires issuer and audience, and a URL and a port that are one', () => {
    expect(() => optionsFromEnv({ ...base, BASTION_ISSUER: '' })).toThrow(/BASTION_ISSUER is not set/)
    expect(() => optionsFromEnv({ ...base, BASTION_AUDIENCE: undefined })).toThrow(/BASTION_AUDIENCE is not set/)
    expect(() => optionsFromEnv({ ...base, BASTION_JWKS_URL: 'jwks.json' })).toThrow(ConfigError)
    expect(() => optionsFromEnv({ ...base, PORT: 'eighty' })).toThrow(/PORT must be a port number/)
  })
})
