import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toNodeListener } from '../adapters/node.ts'
import { createBastion, type Bastion, type CreateBastionOptions } from '../bastion.ts'
import { optionsFromEnv } from '../env.ts'
import { sqliteStore } from '../stores/sqlite/index.ts'
import type { Store } from '../store.ts'
import { doctor } from './doctor.ts'
import type { Finding, Severity } from './report.ts'
import { registrableDomain } from './doctor/site.ts'

// ---- running the command --------------------------------------------------------

interface Run {
  code: number
  out: string[]
  err: string[]
  findings: Finding[]
}

async function run(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  const out: string[] = []
  const err: string[] = []
  const code = await doctor([...args, '--json'], { env, out: (l) => out.push(l), err: (l) => err.push(l) })
  const findings = out.length ? (JSON.parse(out.join('\n')) as { findings: Finding[] }).findings : []
  return { code, out, err, findings }
}

/** Asserts the finding is there with this severity; returns it. */
function expectFinding(r: Run, id: string, severity: Severity, title?: RegExp): Finding {
  const found = r.findings.filter((f) => f.id === id && f.severity === severity && (!title || title.test(f.title)))
  expect(found, `${id} (${severity}) in\n${r.findings.map((f) => `${f.severity} ${f.id}: ${f.title}`).join('\n')}`).not.toHaveLength(0)
  const f = found[0]!
  if (severity === 'fail' || severity === 'warn') expect(f.fix).toBeTruthy()
  return f
}

const failures = (r: Run) => r.findings.filter((f) => f.severity === 'fail').map((f) => `${f.id}: ${f.title}`)

// ---- servers on loopback ----------------------------------------------------------

interface Served {
  url: string
  port: number
  close(): Promise<void>
}

const open: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const close of open.reverse()) await close()
})

async function serve(listener: http.RequestListener, host = '127.0.0.1'): Promise<Served> {
  const server = http.createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const port = (server.address() as AddressInfo).port
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  open.push(close)
  return { url: `http://${host}:${port}`, port, close }
}

/** Answers like Bastion's CSRF and logout endpoints, with the Set-Cookie lines (and Date) a test gives. */
function fakeBastion(o: { csrfCookies?: string[]; logoutCookies?: string[]; date?: string }): http.RequestListener {
  return (req, res) => {
    if (o.date) res.setHeader('Date', o.date)
    if (req.method === 'GET' && req.url === '/auth/csrf') {
      res.setHeader('Set-Cookie', o.csrfCookies ?? ['__Host-csrf=tok; Max-Age=600; Path=/; Secure; SameSite=Lax'])
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify({ csrfToken: 'tok' }))
    } else if (req.method === 'POST' && req.url === '/auth/logout') {
      res.setHeader('Set-Cookie', o.logoutCookies ?? [])
      res.statusCode = 204
      res.end()
    } else {
      res.statusCode = 404
      res.setHeader('Content-Type', 'application/json')
      res.end('{"error":{"code":"not_found","message":"No route."}}')
    }
  }
}

const CLEARED = [
  '__Host-access=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
  '__Secure-refresh=; Max-Age=0; Path=/auth; Secure; HttpOnly; SameSite=Strict; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
  '__Host-csrf=; Max-Age=0; Path=/; Secure; SameSite=Lax; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
]
const withCleared = (replace: Record<string, string>) => CLEARED.map((l) => replace[l.slice(0, l.indexOf('='))] ?? l)

/** A real Bastion (SQLite in a temp dir) on loopback, configured from `env` as the demo would be. */
async function realBastion(env: NodeJS.ProcessEnv, extra: Partial<CreateBastionOptions> = {}): Promise<Served & { bastion: Bastion }> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-doctor-'))
  const store: Store = sqliteStore({ file: join(dir, 'bastion.sqlite') })
  const bastion = await createBastion({ ...optionsFromEnv(env), store, secret: 'd'.repeat(40), argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 }, ...extra })
  const app = async () => new Response('{"error":{"code":"not_found","message":"No route."}}', { status: 404, headers: { 'Content-Type': 'application/json' } })
  const served = await serve(toNodeListener(bastion, app))
  open.push(async () => {
    await bastion.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { ...served, bastion }
}

/**
 * A reverse proxy that forwards to `port` with the upstream's own Host (nginx's default) and, unless `forward`,
 * no X-Forwarded-* of its own; with `forward` it sets them as a TLS proxy configured for Bastion does.
 */
function proxyTo(port: number, forward?: { proto: string }): http.RequestListener {
  return (req, res) => {
    const headers = { ...req.headers, host: `127.0.0.1:${port}` }
    if (forward) Object.assign(headers, { 'x-forwarded-proto': forward.proto, 'x-forwarded-host': req.headers.host, 'x-forwarded-for': req.socket.remoteAddress })
    const upstream = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.writeHead(502).end())
    req.pipe(upstream)
  }
}

/** A self-signed certificate for localhost and 127.0.0.1, made with openssl (null when there is no openssl). */
function certificate(dir: string): { key: Buffer; cert: Buffer; certFile: string } | null {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  } catch {
    return null
  }
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile }
}

/**
 * Runs doctor in a child process that trusts `caFile` (Node reads NODE_EXTRA_CA_CERTS only at start), so that it
 * speaks real TLS to a test proxy; returns each run's code and findings.
 */
async function runTrusting(caFile: string, runs: Array<{ env: NodeJS.ProcessEnv; args: string[] }>): Promise<Run[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-doctor-tls-'))
  const script = join(dir, 'run.mts')
  writeFileSync(script, [
    `import { doctor } from ${JSON.stringify(pathToFileURL(fileURLToPath(new URL('./doctor.ts', import.meta.url))).href)}`,
    'const results = []',
    'for (const { env, args } of JSON.parse(process.argv[2])) {',
    '  const out = [], err = []',
    "  const code = await doctor([...args, '--json'], { env, out: (l) => out.push(l), err: (l) => err.push(l) })",
    "  results.push({ code, out, err, findings: out.length ? JSON.parse(out.join(String.fromCharCode(10))).findings : [] })",
    '}',
    'process.stdout.write(JSON.stringify(results))',
  ].join('\n'))
  const tsx = fileURLToPath(new URL('../../../../node_modules/.bin/tsx', import.meta.url))
  try {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(tsx, [script, JSON.stringify(runs)], { env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile }, timeout: 20_000 }, (e, out, err) => (e ? reject(new Error(`${e.message}\n${err}`)) : resolve(out))),
    )
    return JSON.parse(stdout) as Run[]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function closedPort(): Promise<number> {
  const s = await serve(() => {})
  await s.close()
  return s.port
}

const PROD = { NODE_ENV: 'production', BASTION_SECRET: 's'.repeat(40) }

// ---- arguments ------------------------------------------------------------------------

describe('bastion doctor: arguments', () => {
  it('--help prints the usage and exits 0', async () => {
    const out: string[] = []
    const code = await doctor(['--help'], { env: {}, out: (l) => out.push(l), err: () => {} })
    expect(code).toBe(0)
    expect(out[0]).toMatch(/^usage: bastion doctor \[--url URL\]/)
  })

  it('bad arguments print the usage to stderr and exit 2', async () => {
    for (const args of [['--nope'], ['extra'], ['--url'], ['--url', 'not a url'], ['--url', 'ftp://x.example'], ['--csrf-path', 'auth/csrf'], ['--timeout', '0']]) {
      const out: string[] = []
      const err: string[] = []
      expect(await doctor(args, { env: {}, out: (l) => out.push(l), err: (l) => err.push(l) }), args.join(' ')).toBe(2)
      expect(out).toEqual([])
      expect(err.join('\n')).toMatch(/usage: bastion doctor/)
    }
  })

  it('prints a table for people, and --json for machines', async () => {
    const out: string[] = []
    expect(await doctor([], { env: {}, out: (l) => out.push(l), err: () => {} })).toBe(0)
    expect(out[0]).toBe('bastion doctor: the configuration in the environment')
    expect(out).toContain('  WARN  Safari does not accept Secure cookies on http://localhost or 127.0.0.1')
    expect(out.at(-1)).toMatch(/^0 failed, 1 warnings, \d+ passed$/)
    const json = await run({})
    expect(json.findings.length).toBeGreaterThan(3)
  })
})

// ---- configuration ----------------------------------------------------------------------

describe('bastion doctor: configuration', () => {
  it('the default configuration (PORT 3000, localhost) passes with only the Safari warning', async () => {
    const r = await run({})
    expect(r.code).toBe(0)
    expect(failures(r)).toEqual([])
    expect(r.findings.filter((f) => f.severity === 'warn').map((f) => f.id)).toEqual(['safari-localhost'])
    expectFinding(r, 'config-valid', 'pass')
    expectFinding(r, 'cookie-secure-context', 'pass', /localhost:3000/)
    for (const name of ['__Host-access', '__Secure-refresh', '__Host-csrf']) expectFinding(r, 'cookie-attributes', 'pass', new RegExp(`^${name}: Secure`))
    expectFinding(r, 'allowed-origins', 'pass')
    expectFinding(r, 'access-ttl', 'pass')
  })

  it('Safari on http://localhost is a warning; BASTION_HTTPS=1 removes it', async () => {
    expectFinding(await run({ PORT: '4000' }), 'safari-localhost', 'warn')
    const https = await run({ BASTION_HTTPS: '1' })
    expect(https.code).toBe(0)
    expect(https.findings.map((f) => f.id)).not.toContain('safari-localhost')
    expectFinding(https, 'cookie-secure-context', 'pass', /https:\/\/localhost:3000/)
  })

  it('a ConfigError from the environment or the validation is a fail, not a crash', async () => {
    for (const env of [{ BASTION_ACCESS_TTL: 'soon' }, { BASTION_TRUST_PROXY: 'maybe' }, { BASTION_SECRET: 'short' }, { PORT: 'http' }, { NODE_ENV: 'production' }, { BASTION_ACCESS_TTL: '5000', BASTION_REFRESH_TTL: '60' }]) {
      const r = await run(env)
      expect(r.code, JSON.stringify(env)).toBe(1)
      expectFinding(r, 'config-invalid', 'fail')
      expect(r.findings.map((f) => f.id)).not.toContain('config-valid')
    }
  })

  it('a public origin that is not an origin is a fail', async () => {
    const r = await run({ BASTION_PUBLIC_ORIGIN: 'https://app.example.com/login' })
    expect(r.code).toBe(1)
    expectFinding(r, 'public-origin-invalid', 'fail')
    expect(r.findings.map((f) => f.id)).not.toContain('config-invalid')
  })

  it('cookies over plain http on a host that is not localhost: a fail, from BASTION_PUBLIC_ORIGIN or from HOST', async () => {
    const pub = await run({ BASTION_PUBLIC_ORIGIN: 'http://app.example.com' })
    expect(pub.code).toBe(1)
    expectFinding(pub, 'cookie-plain-http', 'fail', /BASTION_PUBLIC_ORIGIN=http:\/\/app\.example\.com/)
    const host = await run({ HOST: 'example.com' })
    expect(host.code).toBe(1)
    expectFinding(host, 'cookie-plain-http', 'fail', /HOST=example\.com/)
    // A TLS proxy in front with the public origin set is the fix.
    expect((await run({ HOST: '0.0.0.0', BASTION_PUBLIC_ORIGIN: 'https://app.example.com', BASTION_TRUST_PROXY: '1' })).code).toBe(0)
  })

  it('localhost and 127.0.0.1 are different sites: public origin on one, allowed SPA origin on the other', async () => {
    const r = await run({ BASTION_PUBLIC_ORIGIN: 'http://localhost:3000', BASTION_ALLOWED_ORIGINS: 'http://127.0.0.1:5173' })
    expect(r.code).toBe(1)
    expectFinding(r, 'localhost-vs-127', 'fail', /127\.0\.0\.1:5173/)
    // The same host on another port is the same site: the dev server the contract names.
    const ok = await run({ BASTION_ALLOWED_ORIGINS: 'http://localhost:5173' })
    expect(ok.code).toBe(0)
    expectFinding(ok, 'allowed-origin-same-site', 'pass')
  })

  it('an SPA on another site is a fail (third-party cookies), with the subdomain and gateway fixes', async () => {
    const r = await run({ BASTION_PUBLIC_ORIGIN: 'https://api.example.com', BASTION_ALLOWED_ORIGINS: 'https://example-app.com' })
    expect(r.code).toBe(1)
    const f = expectFinding(r, 'allowed-origin-cross-site', 'fail')
    expect(f.fix).toMatch(/subdomain of example\.com/)
    expect(f.fix).toMatch(/BASTION_GATEWAY_UPSTREAM/)
    // Multi-label public suffixes: two github.io sites are two sites; co.uk subdomains are one.
    expectFinding(await run({ BASTION_PUBLIC_ORIGIN: 'https://alice.github.io', BASTION_ALLOWED_ORIGINS: 'https://bob.github.io' }), 'allowed-origin-cross-site', 'fail')
    expectFinding(await run({ BASTION_PUBLIC_ORIGIN: 'https://api.shop.co.uk', BASTION_ALLOWED_ORIGINS: 'https://www.other.co.uk' }), 'allowed-origin-cross-site', 'fail')
    expect([registrableDomain('a.b.example.co.uk'), registrableDomain('x.github.io'), registrableDomain('localhost'), registrableDomain('127.0.0.1')]).toEqual([
      'example.co.uk', 'x.github.io', 'localhost', '127.0.0.1',
    ])
  })

  it('an SPA on the same site, another origin, passes', async () => {
    const r = await run({ ...PROD, BASTION_PUBLIC_ORIGIN: 'https://api.example.co.uk', BASTION_TRUST_PROXY: '1', BASTION_ALLOWED_ORIGINS: 'https://app.example.co.uk' })
    expect(failures(r)).toEqual([])
    expect(r.code).toBe(0)
    expectFinding(r, 'allowed-origin-same-site', 'pass', /app\.example\.co\.uk/)
    expectFinding(r, 'proxy', 'pass')
  })

  it('allowed origins that are not origins: a path, a wildcard, null, upper case are fails; a trailing slash a warning', async () => {
    const r = await run({ BASTION_ALLOWED_ORIGINS: 'http://localhost:5173/app,https://*.example.com,null,https://App.example.com,http://localhost:5174/' })
    expect(r.code).toBe(1)
    for (const bad of ['http://localhost:5173/app', 'https://\\*.example.com', 'null', 'https://App.example.com']) {
      expectFinding(r, 'allowed-origin-invalid', 'fail', new RegExp(`"${bad}"`))
    }
    expectFinding(r, 'allowed-origin-trailing-slash', 'warn', /localhost:5174\//)
    const slashOnly = await run({ BASTION_ALLOWED_ORIGINS: 'http://localhost:5174/' })
    expect(slashOnly.code).toBe(0)
  })

  it('allowed origins over plain http (not loopback) are a fail; loopback ones in production a warning', async () => {
    const r = await run({ BASTION_PUBLIC_ORIGIN: 'https://api.example.com', BASTION_ALLOWED_ORIGINS: 'http://app.example.com' })
    expect(r.code).toBe(1)
    expectFinding(r, 'allowed-origin-insecure', 'fail')
    const dev = await run({ ...PROD, BASTION_PUBLIC_ORIGIN: 'https://api.example.com', BASTION_TRUST_PROXY: '1', BASTION_ALLOWED_ORIGINS: 'http://localhost:5173' })
    expectFinding(dev, 'allowed-origin-loopback-in-production', 'warn')
  })

  it('production with no public origin and no trusted proxy is a fail; a trusted proxy without public origin a warning', async () => {
    const r = await run(PROD)
    expect(r.code).toBe(1)
    expectFinding(r, 'proxy-not-trusted', 'fail', /NODE_ENV=production/)
    const trusted = await run({ ...PROD, BASTION_TRUST_PROXY: '1' })
    expect(trusted.code).toBe(0)
    expectFinding(trusted, 'public-origin-unset', 'warn')
    const untrusted = await run({ ...PROD, BASTION_PUBLIC_ORIGIN: 'https://app.example.com' })
    expect(untrusted.code).toBe(0)
    expectFinding(untrusted, 'trust-proxy-off', 'warn')
  })

  it('a production deployment done right prints a green list', async () => {
    const r = await run({ ...PROD, BASTION_PUBLIC_ORIGIN: 'https://app.example.com', BASTION_TRUST_PROXY: '1' })
    expect(r.code).toBe(0)
    expect(r.findings.filter((f) => f.severity !== 'pass')).toEqual([])
  })

  it('an access-token lifetime under a minute is a warning', async () => {
    const r = await run({ BASTION_ACCESS_TTL: '20' })
    expect(r.code).toBe(0)
    expectFinding(r, 'access-ttl-short', 'warn')
  })
})

// ---- live: a real Bastion ------------------------------------------------------------------

describe('bastion doctor --url: a real Bastion', () => {
  const env = { BASTION_ALLOWED_ORIGINS: 'http://127.0.0.1:5173' }
  let server: Served
  beforeAll(async () => {
    server = await realBastion(env)
  })

  it('passes, with the three cookies, CORS for the allowed origin, its clock and its own origin checked', async () => {
    const r = await run(env, '--url', server.url)
    expect(failures(r)).toEqual([])
    expect(r.code).toBe(0)
    expect(r.findings.filter((f) => f.severity === 'warn').map((f) => f.id)).toEqual(['safari-localhost'])
    for (const id of ['config-valid', 'live-reachable', 'csrf-endpoint', 'clock', 'own-origin-accepted', 'cors-allowed-origin', 'allowed-origin-same-site']) expectFinding(r, id, 'pass')
    expectFinding(r, 'cookie-attributes', 'pass', /^__Host-csrf: Secure; SameSite=Lax; Path=\/$/)
    expectFinding(r, 'cookie-attributes', 'pass', /^__Host-access: Secure; HttpOnly; SameSite=Lax; Path=\/$/)
    expectFinding(r, 'cookie-attributes', 'pass', /^__Secure-refresh: Secure; HttpOnly; SameSite=Strict; Path=\/auth$/)
  })

  it('an allowed origin the server does not allow (its environment differs) is a fail', async () => {
    const r = await run({ BASTION_ALLOWED_ORIGINS: 'http://127.0.0.1:5173,http://127.0.0.1:5174' }, '--url', server.url)
    expect(r.code).toBe(1)
    expectFinding(r, 'cors-allowed-origin', 'pass', /5173/)
    expectFinding(r, 'cors-allowed-origin-refused', 'fail', /5174/)
  })

  it('behind a proxy that passes its own Host, the server refuses its own origin: a fail', async () => {
    const proxy = await serve(proxyTo(server.port))
    const r = await run({}, '--url', proxy.url)
    expect(r.code).toBe(1)
    const f = expectFinding(r, 'own-origin-refused', 'fail')
    expect(f.fix).toContain(`BASTION_PUBLIC_ORIGIN=${proxy.url}`)
    // With BASTION_TRUST_PROXY=1 on the server, doctor tells that the proxy does not send X-Forwarded-*.
    const trusting = await realBastion({ BASTION_TRUST_PROXY: '1' })
    const proxy2 = await serve(proxyTo(trusting.port))
    const r2 = await run({}, '--url', proxy2.url)
    expect(expectFinding(r2, 'own-origin-refused', 'fail').fix).toMatch(/X-Forwarded-Proto/)
  })

  it('--url https://… with no public origin nor trusted proxy in the environment is a fail (proxy not trusted)', async () => {
    const port = await closedPort()
    const r = await run({}, '--url', `https://127.0.0.1:${port}`)
    expect(r.code).toBe(1)
    expectFinding(r, 'proxy-not-trusted', 'fail', /is https/)
    expectFinding(r, 'live-unreachable', 'fail')
    const configured = await run({ BASTION_PUBLIC_ORIGIN: `https://127.0.0.1:${port}`, BASTION_TRUST_PROXY: '1' }, '--url', `https://127.0.0.1:${port}`)
    expect(configured.findings.map((f) => f.id)).not.toContain('proxy-not-trusted')
  })

  const tlsDir = mkdtempSync(join(tmpdir(), 'bastion-doctor-cert-'))
  afterAll(() => rmSync(tlsDir, { recursive: true, force: true }))
  const tls = certificate(tlsDir)
  it.skipIf(!tls)('behind a real TLS proxy: without BASTION_TRUST_PROXY every login is refused (fail); configured, it passes', async () => {
    const tlsProxy = async (listener: http.RequestListener) => {
      const server = https.createServer({ key: tls!.key, cert: tls!.cert }, listener)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      open.push(async () => {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      })
      return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    }
    // Bastion as deployed with the defaults behind a TLS proxy: it sees http://127.0.0.1:<upstream port>.
    const bare = await tlsProxy(proxyTo(server.port))
    // Bastion with BASTION_TRUST_PROXY=1 behind a proxy that sets X-Forwarded-Proto/Host/For.
    const env = { BASTION_TRUST_PROXY: '1' }
    const trusting = await realBastion(env)
    const good = await tlsProxy(proxyTo(trusting.port, { proto: 'https' }))
    const [refused, passed] = await runTrusting(tls!.certFile, [
      { env: {}, args: ['--url', bare] },
      { env: { ...env, BASTION_PUBLIC_ORIGIN: good }, args: ['--url', good] },
    ])
    expect(refused!.code).toBe(1)
    expectFinding(refused!, 'own-origin-refused', 'fail')
    expectFinding(refused!, 'proxy-not-trusted', 'fail', /is https/)
    expectFinding(refused!, 'cookie-secure-context', 'pass', /is https/)
    expect(failures(passed!)).toEqual([])
    expect(passed!.code).toBe(0)
    for (const id of ['own-origin-accepted', 'proxy', 'cookie-secure-context', 'csrf-endpoint']) expectFinding(passed!, id, 'pass')
    expect(passed!.findings.filter((f) => f.severity === 'warn')).toEqual([])
  })
})

// ---- live: misconfigured servers -------------------------------------------------------------

describe('bastion doctor --url: misconfigured servers', () => {
  it('an unreachable URL is a clear fail, not a stack trace', async () => {
    const port = await closedPort()
    const r = await run({}, '--url', `http://127.0.0.1:${port}`)
    expect(r.code).toBe(1)
    const f = expectFinding(r, 'live-unreachable', 'fail')
    expect(f.detail).toMatch(/Connection refused/)
    expect(r.err).toEqual([])
  })

  it('a server that never answers is a fail after the timeout', async () => {
    const silent = await serve(() => {})
    const started = Date.now()
    const r = await run({}, '--url', silent.url, '--timeout', '0.3')
    expect(Date.now() - started).toBeLessThan(3000)
    expect(expectFinding(r, 'live-unreachable', 'fail').detail).toMatch(/within 0.3 s/)
  })

  it('a csrf path that does not answer JSON is a fail: HTML, 404, redirect', async () => {
    const html = await serve((_, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><p>Welcome</p>'))
    const r = await run({}, '--url', html.url)
    expect(r.code).toBe(1)
    expect(expectFinding(r, 'csrf-endpoint-not-json', 'fail').detail).toMatch(/text\/html/)
    const r404 = await run({}, '--url', (await serve(fakeBastion({}))).url, '--csrf-path', '/api/csrf')
    expect(expectFinding(r404, 'csrf-endpoint-not-json', 'fail').fix).toMatch(/--csrf-path/)
    const redirect = await serve((_, res) => res.writeHead(301, { Location: 'https://app.example.com/auth/csrf' }).end())
    expect(expectFinding(await run({}, '--url', redirect.url), 'csrf-endpoint-not-json', 'fail').fix).toMatch(/--url https:\/\/app\.example\.com/)
  })

  it('a CSRF endpoint that sets no cookie is a fail', async () => {
    const s = await serve(fakeBastion({ csrfCookies: [] }))
    expectFinding(await run({}, '--url', s.url), 'csrf-cookie-missing', 'fail')
  })

  it('Secure missing on an auth cookie is a fail', async () => {
    const s = await serve(fakeBastion({ csrfCookies: ['__Host-csrf=tok; Max-Age=600; Path=/; SameSite=Lax'], logoutCookies: withCleared({ '__Secure-refresh': '__Secure-refresh=; Max-Age=0; Path=/auth; HttpOnly; SameSite=Strict' }) }))
    const r = await run({}, '--url', s.url)
    expect(r.code).toBe(1)
    expectFinding(r, 'cookie-secure-missing', 'fail', /^__Host-csrf /)
    expectFinding(r, 'cookie-secure-missing', 'fail', /^__Secure-refresh /)
  })

  it('SameSite=None without Secure is a fail; SameSite=None or none at all on an auth cookie a warning', async () => {
    const s = await serve(fakeBastion({ logoutCookies: withCleared({
      '__Host-access': 'sid=; Max-Age=0; Path=/; HttpOnly; SameSite=None',
      '__Secure-refresh': '__Secure-refresh=; Max-Age=0; Path=/auth; Secure; HttpOnly; SameSite=None',
      '__Host-csrf': '__Host-csrf=; Max-Age=0; Path=/; Secure',
    }) }))
    const r = await run({}, '--url', s.url)
    expectFinding(r, 'cookie-samesite-none-insecure', 'fail', /^sid /)
    expectFinding(r, 'cookie-samesite-none', 'warn', /^__Secure-refresh /)
    // The csrf cookie is judged on the line that sets it (SameSite=Lax); a clearing line alone would be judged too:
    const bare = await serve(fakeBastion({ csrfCookies: ['__Host-csrf=tok; Max-Age=600; Path=/; Secure'] }))
    expectFinding(await run({}, '--url', bare.url), 'cookie-samesite-missing', 'warn', /^__Host-csrf /)
  })

  it('a __Host- cookie with a Domain, or a Path other than /, is a fail', async () => {
    const s = await serve(fakeBastion({ csrfCookies: ['__Host-csrf=tok; Max-Age=600; Domain=127.0.0.1; Path=/; Secure; SameSite=Lax'], logoutCookies: withCleared({ '__Host-access': '__Host-access=; Max-Age=0; Path=/api; Secure; HttpOnly; SameSite=Lax' }) }))
    const r = await run({}, '--url', s.url)
    expect(r.code).toBe(1)
    expectFinding(r, 'cookie-host-prefix-domain', 'fail', /^__Host-csrf /)
    expectFinding(r, 'cookie-host-prefix-path', 'fail', /^__Host-access has Path=\/api/)
  })

  it('a Domain the host may not set is a fail', async () => {
    const s = await serve(fakeBastion({ csrfCookies: ['csrf=tok; Max-Age=600; Domain=example.com; Path=/; Secure; SameSite=Lax'] }))
    expectFinding(await run({}, '--url', s.url), 'cookie-domain-mismatch', 'fail', /Domain=example\.com/)
  })

  it('a cookie over 4096 bytes (name, value and attributes) is a fail', async () => {
    const big = `__Host-csrf=${'x'.repeat(4080)}; Max-Age=600; Path=/; Secure; SameSite=Lax`
    const s = await serve(fakeBastion({ csrfCookies: [big] }))
    const r = await run({}, '--url', s.url)
    expect(r.code).toBe(1)
    expectFinding(r, 'cookie-too-large', 'fail', new RegExp(`${Buffer.byteLength(big)} bytes`))
  })

  it('an HttpOnly CSRF cookie, or token cookies readable by JavaScript, are fails', async () => {
    const s = await serve(fakeBastion({
      csrfCookies: ['__Host-csrf=tok; Max-Age=600; Path=/; Secure; HttpOnly; SameSite=Lax'],
      logoutCookies: withCleared({ '__Host-access': '__Host-access=; Max-Age=0; Path=/; Secure; SameSite=Lax' }),
    }))
    const r = await run({}, '--url', s.url)
    expectFinding(r, 'csrf-cookie-httponly', 'fail')
    expectFinding(r, 'cookie-httponly-missing', 'fail', /^__Host-access /)
  })

  it('a refresh cookie whose Path misses the refresh endpoint is a fail', async () => {
    const s = await serve(fakeBastion({ logoutCookies: withCleared({ '__Secure-refresh': '__Secure-refresh=; Max-Age=0; Path=/auth/refresh-token; Secure; HttpOnly; SameSite=Strict' }) }))
    expectFinding(await run({}, '--url', s.url), 'cookie-refresh-path', 'fail')
  })

  it('logout clearing a cookie with another Path than it was set with is a fail', async () => {
    const s = await serve(fakeBastion({ logoutCookies: withCleared({ '__Host-csrf': '__Host-csrf=; Max-Age=0; Path=/auth; Secure; SameSite=Lax' }) }))
    const r = await run({}, '--url', s.url)
    expectFinding(r, 'cookie-clear-mismatch', 'fail', /^__Host-csrf /)
  })

  it('a CSRF cookie that arrives expired is a fail', async () => {
    const s = await serve(fakeBastion({ csrfCookies: ['__Host-csrf=tok; Max-Age=0; Path=/; Secure; SameSite=Lax'] }))
    expectFinding(await run({}, '--url', s.url), 'cookie-expired', 'fail')
  })

  it('clock skew over 30 s against the Date header is a fail', async () => {
    const behind = await serve(fakeBastion({ date: new Date(Date.now() - 125_000).toUTCString(), logoutCookies: CLEARED }))
    const r = await run({}, '--url', behind.url)
    expect(r.code).toBe(1)
    expectFinding(r, 'clock-skew', 'fail', /2 min behind/)
    const close = await serve(fakeBastion({ date: new Date(Date.now() - 10_000).toUTCString(), logoutCookies: CLEARED }))
    const ok = await run({}, '--url', close.url)
    expectFinding(ok, 'clock', 'pass')
    expect(failures(ok)).toEqual([])
  })

  it('public origin on localhost, URL on 127.0.0.1: different sites, a fail', async () => {
    const s = await serve(fakeBastion({ logoutCookies: CLEARED }))
    const r = await run({ BASTION_PUBLIC_ORIGIN: `http://localhost:${s.port}` }, '--url', s.url)
    expect(r.code).toBe(1)
    expectFinding(r, 'localhost-vs-127', 'fail', /BASTION_PUBLIC_ORIGIN is http:\/\/localhost/)
    // Allowed origin on localhost while the server is reached at 127.0.0.1:
    expectFinding(await run({ BASTION_ALLOWED_ORIGINS: 'http://localhost:5173' }, '--url', s.url), 'localhost-vs-127', 'fail', /SPA origin http:\/\/localhost:5173/)
  })

  it('a URL other than the public origin is noted', async () => {
    const s = await serve(fakeBastion({ logoutCookies: CLEARED }))
    const r = await run({ BASTION_PUBLIC_ORIGIN: 'https://app.example.com', BASTION_TRUST_PROXY: '1' }, '--url', s.url)
    expectFinding(r, 'url-not-public-origin', 'info')
    expect(r.code).toBe(0)
  })

  const lan = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address
  it.skipIf(!lan)('__Host-/Secure cookies served over plain http on a host that is not localhost are a fail', async () => {
    const s = await serve(fakeBastion({ logoutCookies: CLEARED }), lan)
    const r = await run({}, '--url', s.url)
    expect(r.code).toBe(1)
    for (const name of ['__Host-csrf', '__Host-access', '__Secure-refresh']) expectFinding(r, 'cookie-plain-http', 'fail', new RegExp(`^${name} is set over plain http on ${lan!.replace(/\./g, '\\.')}`))
    expect(r.findings.map((f) => f.id)).not.toContain('safari-localhost')
  })
})
