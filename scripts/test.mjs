#!/usr/bin/env node
// `npm test`: every suite this machine can run. The core suites need nothing;
// the PostgreSQL, Redis and browser suites need their service. Without one,
// a laptop run skips that suite and says how to enable it; with CI=true a
// missing service is a failure, never a silent skip.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
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

function run(label, args, env = {}) {
  process.stdout.write(`\n── ${label} ──\n`)
  const r = spawnSync('npx', ['vitest', 'run', ...args], { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '1', ...env } })
  return r.status === 0
}

const suites = [
  {
    name: 'core',
    label: 'core, stores (SQLite), adapters, client, demo',
    needs: async () => null,
    args: [],
  },
  {
    name: 'postgres',
    label: 'PostgreSQL store',
    needs: async () => ((await reachable(PG_URL)) ? null : `no PostgreSQL at ${PG_URL}. Start one, or set BASTION_TEST_DATABASE_URL.`),
    args: ['--config', 'packages/server/src/stores/vitest.services.config.ts', '.pg.test.ts'],
    // The same behavioural HTTP suites as the core run on SQLite, now on PostgreSQL.
    also: [{ label: 'HTTP behaviour, adapters and adversarial suites on PostgreSQL', args: ['packages/server/src/http-', 'packages/server/src/adapters/', 'packages/server/src/adversarial/'], env: { BASTION_TEST_STORE: 'postgres' } }],
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
  let passed = run(suite.label, suite.args)
  for (const extra of suite.also ?? []) passed = run(`${suite.label}: ${extra.label}`, extra.args, extra.env) && passed
  results.push({ suite, status: passed ? 'passed' : 'FAILED' })
}

process.stdout.write('\n── summary ──\n')
for (const r of results) {
  process.stdout.write(`${r.status.padEnd(8)} ${r.suite.name.padEnd(9)} ${r.suite.label}${r.why ? ` — ${r.why}` : ''}\n`)
}
const skipped = results.filter((r) => r.status === 'skipped')
if (skipped.length) process.stdout.write(`\n${skipped.length} suite(s) skipped because a service is missing (see above). CI=true turns a missing service into a failure.\n`)
const bad = results.filter((r) => r.status === 'FAILED' || r.status === 'MISSING')
if (bad.length) {
  process.stdout.write(`\n${bad.map((r) => r.suite.name).join(', ')}: ${CI ? 'failed or missing (CI=true)' : 'failed'}\n`)
  process.exit(1)
}
