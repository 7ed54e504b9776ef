// `bastion audit` over real HTTP on loopback: against a server that makes
// every mistake on purpose (each must be a `fail` with its id), against
// nothing at all (a clear `fail`, never a stack trace), and with bad
// arguments. The demo bank's clean report is apps/demo/src/audit.test.ts.
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { audit, runAudit } from './audit.ts'
import { Findings, type AuditContext } from './audit/context.ts'
import { checkHeaders } from './audit/headers.ts'
import { HttpClient, type Exchange } from './audit/http.ts'
import { CookieJar, parseSetCookie } from './audit/jar.ts'
import { forge } from './audit/csrf.ts'
import { parseAuditArgs, type AuditOptions } from './audit/options.ts'
import { startWeakServer, type WeakServer } from './audit/weak-server.ts'
import type { CliIo } from './io.ts'
import type { Finding } from './report.ts'

interface JsonReport {
  target: string
  ok: boolean
  counts: Record<string, number>
  findings: Finding[]
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const io: CliIo = { env: {}, out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await audit(args, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

async function json(...args: string[]): Promise<{ code: number; report: JsonReport }> {
  const { code, out, err } = await cli(...args, '--json')
  expect(err).toBe('')
  return { code, report: JSON.parse(out) as JsonReport }
}

const ids = (report: JsonReport, severity: Finding['severity']) => new Set(report.findings.filter((f) => f.severity === severity).map((f) => f.id))

/** The weak server speaks another double-submit dialect: only the names change. */
const WEAK_ARGS = [
  '--csrf-cookie', 'XSRF-TOKEN', '--csrf-header', 'X-XSRF-TOKEN',
  '--username', 'alice', '--password', 'alice-password-1',
  '--post', '/api/transfer', '--post-body', '{"to":"mallory","amount":1}',
]

describe('bastion audit against a deliberately weak server', () => {
  let weak: WeakServer
  beforeAll(async () => {
    weak = await startWeakServer()
  })
  afterAll(async () => {
    await weak?.close()
  })

  it('reports every planted weakness as a failure with its id, and exits 1', async () => {
    const before = weak.requests()
    const transfers = weak.transfers()
    const { code, report } = await json(weak.url, ...WEAK_ARGS)
    expect(code).toBe(1)
    expect(report.ok).toBe(false)
    const failed = ids(report, 'fail')
    const planted: Record<string, string[]> = {
      'tokens in the login body (and a header)': ['token-in-body', 'token-in-header'],
      'no CSRF check at all': ['csrf-login-accepted', 'csrf-missing-accepted', 'csrf-forged-accepted', 'csrf-cross-session-accepted'],
      'no Origin / Fetch Metadata check': ['origin-foreign-accepted', 'origin-null-accepted', 'fetch-site-cross-accepted', 'fetch-site-same-accepted'],
      'reflected CORS with credentials': ['cors-reflected', 'cors-null-reflected'],
      'a pre-login session id adopted at login': ['session-fixation-adopted'],
      'no refresh rotation': ['refresh-not-rotated'],
      'a logout that revokes nothing': ['logout-access-still-valid', 'logout-refresh-still-valid'],
      'an HS256 JWT with a long lifetime (and the secret "secret")': ['jwt-alg-symmetric', 'jwt-lifetime-long', 'jwt-weak-secret'],
      'no security headers': ['header-csp-missing', 'header-frame-missing', 'header-nosniff-missing', 'header-no-store-missing'],
      'cookies without HttpOnly or Secure': ['cookie-httponly-missing', 'cookie-secure-missing'],
    }
    for (const [weakness, expected] of Object.entries(planted)) {
      for (const id of expected) expect(failed.has(id), `${weakness}: ${id}`).toBe(true)
    }
    // Lesser planted weaknesses are warnings.
    const warned = ids(report, 'warn')
    for (const id of ['cookie-samesite-missing', 'cookie-prefix-missing', 'cookie-refresh-path-wide', 'cookie-lifetime-long', 'jwt-typ-missing', 'jwt-kid-missing']) expect(warned.has(id), id).toBe(true)
    // The cookies that authenticate were found by what login set, plus the pre-login session id by its name.
    const httpOnly = report.findings.filter((f) => f.id === 'cookie-httponly-missing').map((f) => f.title.split(':')[0]).sort()
    expect(httpOnly).toEqual(['refresh', 'sid', 'token'])
    // Every failure and warning says what to do.
    for (const f of report.findings) if (f.severity === 'fail' || f.severity === 'warn') expect(f.fix, f.id).toBeTruthy()
    // Evidence never repeats a whole token.
    expect(JSON.stringify(report)).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}/)
    // The legitimate transfer was made once; the seven forgeries went through only because the server checks nothing.
    expect(weak.transfers() - transfers).toBe(8)
    const summary = report.findings.find((f) => f.id === 'audit-summary')!
    const sent = Number(/^(\d+) requests/.exec(summary.title)![1])
    expect(sent).toBe(weak.requests() - before)
    expect(sent).toBeLessThanOrEqual(100)
  })

  it('prints a table for people: FAIL lines with their evidence and fix, and the tally', async () => {
    const { code, out } = await cli(weak.url, ...WEAK_ARGS)
    expect(code).toBe(1)
    const lines = out.split('\n')
    expect(lines[0]).toBe(`bastion audit ${weak.url}`)
    expect(lines).toContain('  FAIL  Accepted the authenticated POST /api/transfer without the X-XSRF-TOKEN header (200)')
    expect(lines).toContain('  FAIL  The refresh token does not rotate (refresh is the same after a refresh)')
    expect(lines.some((l) => /^\s+fix: /.test(l))).toBe(true)
    expect(lines.at(-1)).toMatch(/^\d+ failed, \d+ warnings, \d+ passed$/)
  })

  it('stops at its request cap and says the report is incomplete', async () => {
    const before = weak.requests()
    const options = parseAuditArgs([weak.url, ...WEAK_ARGS]) as AuditOptions
    const report = await runAudit(options, { maxRequests: 6 })
    expect(weak.requests() - before).toBe(6)
    const stopped = report.findings.find((f) => f.id === 'audit-incomplete')
    expect(stopped?.severity).toBe('fail')
    expect(stopped?.title).toMatch(/cap of 6 requests/)
    // What was seen before the stop is still analysed.
    expect(report.findings.some((f) => f.id === 'cookie-httponly-missing')).toBe(true)
  })
})

describe('bastion audit when there is nothing to audit', () => {
  let hanging: Server
  let hangingUrl: string
  beforeAll(async () => {
    hanging = createServer(() => {}) // accepts, never answers
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r))
    hangingUrl = `http://127.0.0.1:${(hanging.address() as { port: number }).port}/`
  })
  afterAll(async () => {
    hanging.closeAllConnections()
    await new Promise((r) => hanging.close(r))
  })

  it('an unreachable URL is a clear failure, not a stack trace', async () => {
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as { port: number }).port
    await new Promise((r) => closed.close(r))
    const { code, report } = await json(`http://127.0.0.1:${port}/`)
    expect(code).toBe(1)
    const f = report.findings.find((x) => x.id === 'target-unreachable')!
    expect(f.severity).toBe('fail')
    expect(f.detail).toMatch(/ECONNREFUSED/)
    expect(f.fix).toBeTruthy()
    const table = await cli(`http://127.0.0.1:${port}/`)
    expect(table.out).toMatch(/FAIL {2}http:\/\/127\.0\.0\.1:\d+\/ is unreachable/)
    expect(table.out + table.err).not.toMatch(/\n\s+at /)
  })

  it('a server that never answers is given up on after --timeout', async () => {
    const started = Date.now()
    const { code, report } = await json(hangingUrl, '--timeout', '0.3')
    expect(code).toBe(1)
    expect(report.findings.find((x) => x.id === 'target-unreachable')?.detail).toMatch(/no answer within 0.3 s/)
    expect(Date.now() - started).toBeLessThan(3_000)
  })
})

describe('bastion audit arguments', () => {
  it('--help prints the usage and exits 0', async () => {
    const { code, out, err } = await cli('--help')
    expect(code).toBe(0)
    expect(out).toMatch(/^usage: bastion audit <url>/)
    expect(out).toContain('--csrf-cookie')
    expect(err).toBe('')
  })

  it.each([
    [[]],
    [['http://a.example', 'http://b.example']],
    [['ftp://a.example']],
    [['not a url']],
    [['http://a.example', '--nope']],
    [['http://a.example', '--username', 'alice']],
    [['http://a.example', '--grace', 'soon']],
    [['http://a.example', '--timeout', '0']],
    [['http://a.example', '--login', 'auth/login']],
    [['http://a.example', '--post', '/api/x', '--post-body', '{not json']],
    [['http://a.example', '--post-body', '{}']],
    [['http://a.example', '--csrf-header', 'X CSRF']],
    [['http://a.example', '--origin-foreign', 'http://a.example']],
    [['http://a.example', '--register', '/auth/register', '--username', 'a', '--password', 'b']],
  ])('refuses %j with the usage on stderr and exit 2', async (args) => {
    const { code, out, err } = await cli(...args)
    expect(code).toBe(2)
    expect(out).toBe('')
    expect(err).toMatch(/^bastion audit: .+\n\nusage: bastion audit/)
  })

  it('defaults to the names of Bastion\'s contract', () => {
    const o = parseAuditArgs(['https://bank.example/']) as AuditOptions
    expect(o.csrf).toEqual({ cookie: '__Host-csrf', header: 'X-CSRF-Token', path: '/auth/csrf' })
    expect(o.paths).toEqual({ login: '/auth/login', refresh: '/auth/refresh', logout: '/auth/logout', session: '/auth/session', me: '/api/me', jwks: '/.well-known/jwks.json' })
    expect(o.originForeign).toBe('https://evil.example')
    expect(o.grace).toBe(10)
    expect(o.timeoutMs).toBe(10_000)
  })
})

describe('the cookie jar', () => {
  it('stores by name, domain and path, matches paths as RFC 6265 says, and deletes on Max-Age=0', () => {
    const jar = new CookieJar()
    const url = new URL('http://localhost:3000/auth/login')
    jar.store(parseSetCookie('__Host-access=a; Path=/; Secure; HttpOnly; SameSite=Lax')!, url)
    jar.store(parseSetCookie('__Secure-refresh=r; Path=/auth; Secure; HttpOnly; SameSite=Strict')!, url)
    jar.store(parseSetCookie('other=x; Domain=evil.example')!, url) // not this host's: ignored
    expect(jar.header(new URL('http://localhost:3000/auth/refresh'))).toBe('__Secure-refresh=r; __Host-access=a')
    expect(jar.header(new URL('http://localhost:3000/authx'))).toBe('__Host-access=a')
    expect(jar.header(new URL('http://127.0.0.1:3000/'))).toBeUndefined()
    jar.store(parseSetCookie('__Host-access=; Path=/; Max-Age=0')!, url)
    expect(jar.header(new URL('http://localhost:3000/api/me'))).toBeUndefined()
  })

  it('forges a token of the same shape that differs', () => {
    const token = 's.6DjpDy8odMpNRV9LIxbmmA.FyrX9HSgx3kbCzYZjY-V1Nn9wdqpww1fh3wygLQzntg'
    const forged = forge(token)
    expect(forged).not.toBe(token)
    expect(forged).toHaveLength(token.length)
    expect(forged.slice(0, -8)).toBe(token.slice(0, -8))
  })
})

describe('security headers over TLS', () => {
  // No TLS server in these tests: the header rules are checked on answers built here.
  const answer = (label: string, headers: Record<string, string>): Exchange => ({
    label, method: label === 'login' ? 'POST' : 'GET', url: new URL(label === 'login' ? 'https://bank.example/auth/login' : 'https://bank.example/'),
    sent: new Headers(), status: 200, headers: new Headers(headers), setCookies: [], text: '', json: undefined, at: Date.now(),
  })
  const page = { 'content-type': 'text/html', 'content-security-policy': "script-src 'self'; frame-ancestors 'none'", 'x-content-type-options': 'nosniff' }
  const login = { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }
  function findings(hsts: Record<string, string>): Finding[] {
    const options = parseAuditArgs(['https://bank.example/']) as AuditOptions
    const ctx: AuditContext = { options, origin: options.url.origin, client: new HttpClient({ maxRequests: 1, totalMs: 1_000, timeoutMs: 1_000 }), findings: new Findings(), legitimatePosts: 0 }
    checkHeaders(ctx, answer('page', { ...page, ...hsts }), [answer('login', { ...login, ...hsts })], [])
    return ctx.findings.list
  }

  it('fails without Strict-Transport-Security, warns under 180 days, passes a year', () => {
    expect(findings({}).find((f) => f.id === 'header-hsts-missing')?.severity).toBe('fail')
    expect(findings({ 'strict-transport-security': 'max-age=300' }).find((f) => f.id === 'header-hsts-short')?.severity).toBe('warn')
    const good = findings({ 'strict-transport-security': 'max-age=31536000; includeSubDomains' })
    expect(good.filter((f) => f.severity === 'fail' || f.severity === 'warn')).toEqual([])
    expect(good.map((f) => f.id)).toEqual(expect.arrayContaining(['header-hsts', 'header-csp', 'header-frame', 'header-nosniff', 'header-no-store']))
  })
})
