// `bastion audit` against the real demo bank (the process `npm start` runs):
// every check holds, exit 0, and alice's money moved only by the one transfer
// the audit made on purpose (its seven forgeries of that transfer were all
// refused). The bank runs with a 2 s refresh grace so that the audit also
// replays a rotated refresh token beyond the grace (reuse detection).
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { audit } from '../../../packages/server/src/cli/audit.ts'
import type { CliIo } from '../../../packages/server/src/cli/io.ts'
import type { Finding } from '../../../packages/server/src/cli/report.ts'
import { ROOT, startDemo, type Demo } from './testing/start-demo.ts'

let demo: Demo
beforeAll(async () => {
  demo = await startDemo({ BASTION_REFRESH_GRACE: '2' })
})
afterAll(async () => {
  await demo?.stop()
})

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = []
  const io: CliIo = { env: {}, out: (l) => out.push(l), err: (l) => out.push(`stderr: ${l}`) }
  const code = await audit(args, io)
  return { code, out: out.join('\n') }
}

/** Signs in as a browser would and reads alice's balance and transfers. */
async function alicesAccount(): Promise<{ balance: number; transfers: { from: string; to: string; amount: number }[] }> {
  const csrf = await fetch(`${demo.bankUrl}/auth/csrf`)
  const csrfCookie = csrf.headers.getSetCookie()[0]!.split(';')[0]!
  const login = await fetch(`${demo.bankUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: csrfCookie, 'x-csrf-token': csrfCookie.slice(csrfCookie.indexOf('=') + 1), origin: demo.bankUrl },
    body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
  })
  expect(login.status).toBe(200)
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
  const { balance } = (await (await fetch(`${demo.bankUrl}/api/balance`, { headers: { cookie } })).json()) as { balance: number }
  const { transfers } = (await (await fetch(`${demo.bankUrl}/api/transfers`, { headers: { cookie } })).json()) as { transfers: { from: string; to: string; amount: number }[] }
  return { balance, transfers }
}

describe('bastion audit against the demo bank', () => {
  it('finds no failure, exits 0, and moves alice\'s money only by its one legitimate transfer', async () => {
    const before = await alicesAccount()
    expect(before.balance).toBe(100000)
    const { code, out } = await cli(demo.bankUrl, '--username', 'alice', '--password', 'alice-password-1', '--post', '/api/transfer', '--post-body', '{"to":"mallory","amount":1}', '--grace', '2', '--json')
    const report = JSON.parse(out) as { ok: boolean; findings: Finding[] }
    expect(report.findings.filter((f) => f.severity === 'fail')).toEqual([])
    // Not even a warning: the bank's own API answers carry nosniff and no-store like Bastion's.
    expect(report.findings.filter((f) => f.severity === 'warn')).toEqual([])
    expect(code).toBe(0)
    expect(report.ok).toBe(true)
    const passed = new Set(report.findings.filter((f) => f.severity === 'pass').map((f) => f.id))
    for (const id of [
      'csrf-token', 'login', 'auth-me',
      'cookie-httponly', 'cookie-secure', 'cookie-samesite', 'cookie-prefix', 'cookie-host-only', 'cookie-refresh-path', 'cookie-lifetime',
      'token-exposure',
      'csrf-login', 'post-baseline', 'csrf-missing', 'csrf-forged', 'csrf-cross-session', 'origin-foreign', 'origin-null', 'fetch-site-cross', 'fetch-site-same',
      'cors-reflection', 'session-fixation',
      'refresh-rotation', 'refresh-replay-grace', 'refresh-reuse-detection', 'logout-access-revoked', 'logout-refresh-revoked',
      'jwks', 'jwt-alg', 'jwt-typ', 'jwt-lifetime', 'jwt-kid', 'jwt-claims',
      'header-csp', 'header-frame', 'header-nosniff', 'header-no-store',
    ]) expect(passed.has(id), id).toBe(true)

    // The legitimate POST was sent once; every forgery of it was refused.
    expect(report.findings.find((f) => f.id === 'audit-summary')?.title).toMatch(/--post sent legitimately: 1 time$/)
    const after = await alicesAccount()
    expect(after.balance).toBe(before.balance - 1)
    expect(after.transfers.map(({ from, to, amount }) => ({ from, to, amount }))).toEqual([{ from: 'alice', to: 'mallory', amount: 1 }])
  })

  it('with a throwaway account and no --post: still no failure, in the table for people', async () => {
    const { code, out } = await cli(demo.bankUrl, '--register', '/auth/register')
    expect(out).not.toMatch(/^\s+FAIL /m)
    expect(code).toBe(0)
    expect(out).toMatch(/ok {4}Registered the throwaway account audit-[0-9a-f]{8} \(201\)/)
    expect(out).toMatch(/ok {4}Refused a login \(POST \/auth\/login\) with Origin: https:\/\/evil\.example/)
    expect(out).toMatch(/info {2}Reuse beyond the grace not tried: it needs a 11 s wait \(--grace 10\)/)
    expect(out.split('\n').at(-1)).toMatch(/^0 failed, \d+ warnings, \d+ passed$/)
  })
})

/**
 * The audit in a child process that trusts `caFile` (Node reads NODE_EXTRA_CA_CERTS only at start), so that it
 * speaks real TLS to the demo's self-signed https://localhost.
 */
async function auditTrusting(caFile: string, args: string[]): Promise<{ code: number; findings: Finding[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-audit-tls-'))
  const script = join(dir, 'run.mts')
  const auditModule = pathToFileURL(fileURLToPath(new URL('../../../packages/server/src/cli/audit.ts', import.meta.url))).href
  writeFileSync(script, [
    `import { audit } from ${JSON.stringify(auditModule)}`,
    'const out = []',
    "const code = await audit(JSON.parse(process.argv[2]), { env: {}, out: (l) => out.push(l), err: (l) => out.push(l) })",
    "process.stdout.write(JSON.stringify({ code, findings: JSON.parse(out.join(String.fromCharCode(10))).findings }))",
  ].join('\n'))
  try {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(join(ROOT, 'node_modules/.bin/tsx'), [script, JSON.stringify([...args, '--json'])], { env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile }, timeout: 25_000 }, (e, out, err) =>
        e ? reject(new Error(`${e.message}\n${err}`)) : resolve(out),
      ),
    )
    return JSON.parse(stdout) as { code: number; findings: Finding[] }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('bastion audit against the demo bank over TLS (BASTION_HTTPS=1)', () => {
  it('finds no failure, and checks HSTS on the page', async () => {
    const tls = await startDemo({ BASTION_HTTPS: '1' })
    try {
      expect(tls.bankUrl).toMatch(/^https:\/\/localhost:\d+$/)
      const { code, findings } = await auditTrusting(join(tls.dataDir, 'tls/localhost.pem'), [tls.bankUrl, '--username', 'mallory', '--password', 'mallory-password-1'])
      expect(findings.filter((f) => f.severity === 'fail')).toEqual([])
      expect(code).toBe(0)
      const passed = new Map(findings.filter((f) => f.severity === 'pass').map((f) => [f.id, f.title]))
      expect(passed.get('tls')).toBe('Served over HTTPS')
      // Loopback gets five minutes from the demo (so localhost is not pinned to HTTPS): enough here.
      expect(passed.get('header-hsts')).toBe('Strict-Transport-Security: max-age=300')
      for (const id of ['cookie-secure', 'cookie-prefix', 'csrf-login', 'origin-foreign', 'session-fixation', 'refresh-rotation', 'logout-access-revoked']) expect(passed.has(id), id).toBe(true)
    } finally {
      await tls.stop()
    }
  })
})
