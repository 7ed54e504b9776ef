#!/usr/bin/env node
// `npm test`: every suite this machine can run. The core suites need nothing;
// the PostgreSQL, Redis and browser suites need their service. Without one,
// a laptop run skips that suite and says how to enable it; with CI=true a
// missing service is a failure, never a silent skip.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import net from 'node:net'

const CI = ['1', 'true'].includes((process.env.CI ?? '').toLowerCase())
const PG_URL = process.env.BASTION_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.BASTION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const CHROMIUM = process.env.BASTION_CHROMIUM ?? '/usr/bin/chromium'
const only = process.argv.slice(2) // e.g. `npm test -- core e2e`

function reachable(url) {
  const u = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port), timeout: 1500 })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(false))
  })
}

// Each run also writes vitest's JSON report, so the summary can give the counts per suite.
const REPORTS = join('.tmp', 'test-reports')
rmSync(REPORTS, { recursive: true, force: true })
mkdirSync(REPORTS, { recursive: true })
let runs = 0

function run(label, args, env = {}) {
  process.stdout.write(`\n── ${label} ──\n`)
  const report = join(REPORTS, `${++runs}.json`)
  const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args], {
    stdio: 'inherit',
    env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '1', ...env },
  })
  let counts = { passed: 0, failed: 0, skipped: 0 }
  try {
    const j = JSON.parse(readFileSync(report, 'utf8'))
    counts = { passed: j.numPassedTests, failed: j.numFailedTests, skipped: j.numPendingTests + (j.numTodoTests ?? 0) }
  } catch {
    // No report: the run died before writing one; its exit status says so.
  }
  return { ok: r.status === 0, counts }
}

const suites = [
  {
    name: 'core',
    label: 'core, stores (SQLite), adapters, client, demo',
    needs: async () => null,
    args: [],
    // The encrypted access cookie (accessToken.format 'jwe'): the behavioural and adversarial suites again on it.
    also: [{ label: 'routes, gateway and adversarial suites with the jwe access cookie', args: ['packages/server/src/routes/', 'packages/server/src/adversarial/'], env: { BASTION_TEST_ACCESS_FORMAT: 'jwe' } }],
  },
  {
    name: 'postgres',
    label: 'PostgreSQL store',
    needs: async () => ((await reachable(PG_URL)) ? null : `no PostgreSQL at ${PG_URL}. Start one, or set BASTION_TEST_DATABASE_URL.`),
    args: ['--config', 'packages/server/src/stores/vitest.services.config.ts', '.pg.test.ts'],
    // The same behavioural HTTP suites as the core run on SQLite, now on PostgreSQL.
    also: [{ label: 'HTTP behaviour, adapters and adversarial suites on PostgreSQL', args: ['packages/server/src/http-', 'packages/server/src/routes/', 'packages/server/src/dpop/', 'packages/server/src/adapters/', 'packages/server/src/adversarial/'], env: { BASTION_TEST_STORE: 'postgres' } }],
  },
  {
    name: 'redis',
    label: 'Redis rate limits, revocation bus, instances on PostgreSQL + Redis, fault injection',
    needs: async () =>
      !(await reachable(REDIS_URL))
        ? `no Redis at ${REDIS_URL}. Start one, or set BASTION_TEST_REDIS_URL.`
        : !(await reachable(PG_URL))
          ? `the two-instance tests also need PostgreSQL at ${PG_URL}.`
          : null,
    args: ['--config', 'packages/server/src/stores/vitest.services.config.ts', '.redis.test.ts'],
  },
  {
    name: 'e2e',
    label: 'browser end-to-end (Chromium)',
    needs: async () => (existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM}. Install it (Debian: apt-get install -y chromium) or set BASTION_CHROMIUM.`),
    args: ['--config', 'e2e/vitest.config.ts'],
  },
]

const results = []
for (const suite of suites) {
  if (only.length && !only.includes(suite.name)) continue
  const missing = await suite.needs()
  if (missing) {
    results.push({ suite, status: CI ? 'MISSING' : 'skipped', why: missing })
    continue
  }
  const counts = { passed: 0, failed: 0, skipped: 0 }
  let passed = true
  for (const part of [{ label: suite.label, args: suite.args }, ...(suite.also ?? []).map((x) => ({ ...x, label: `${suite.label}: ${x.label}` }))]) {
    const r = run(part.label, part.args, part.env)
    passed = r.ok && passed
    for (const k of Object.keys(counts)) counts[k] += r.counts[k]
  }
  results.push({ suite, status: passed ? 'passed' : 'FAILED', counts })
}

process.stdout.write(`\n── summary: Node ${process.version} ──\n`)
const tally = (c) => (c ? `${String(c.passed).padStart(4)} passed${c.failed ? `, ${c.failed} failed` : ''}${c.skipped ? `, ${c.skipped} skipped` : ''}` : '')
for (const r of results) {
  process.stdout.write(`${r.status.padEnd(8)} ${r.suite.name.padEnd(9)} ${tally(r.counts).padEnd(24)} ${r.suite.label}${r.why ? ` — ${r.why}` : ''}\n`)
}
const total = results.reduce((n, r) => n + (r.counts?.passed ?? 0), 0)
process.stdout.write(`${total} tests passed on Node ${process.version}\n`)
const skipped = results.filter((r) => r.status === 'skipped')
if (skipped.length) process.stdout.write(`\n${skipped.length} suite(s) skipped because a service is missing (see above). CI=true turns a missing service into a failure.\n`)
const bad = results.filter((r) => r.status === 'FAILED' || r.status === 'MISSING')
if (bad.length) {
  process.stdout.write(`\n${bad.map((r) => r.suite.name).join(', ')}: ${CI ? 'failed or missing (CI=true)' : 'failed'}\n`)
  process.exit(1)
}
