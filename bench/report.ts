/**
 * The bench's figures as Markdown, for docs/benchmarks.md: a full run
 * (`npm run bench`) rewrites the part of that page between its two
 * `bench:figures` markers; `node --import tsx bench/report.ts [file.json]`
 * prints it from a saved run.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import type { Result } from './rows.ts'

const START = '<!-- bench:figures:start -->'
const END = '<!-- bench:figures:end -->'
const n0 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.round(x).toLocaleString('en-US'))
const n1 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(1))

/** A baseline's name, without the server part when it is the same server's route. */
const short = (base: Result['rows'][number], row: Result['rows'][number]) => {
  const [server, route] = base.label.split(/\s{2,}/)
  return route && row.label.startsWith(server!) ? route : base.label.replace(/\s{2,}/g, ' — ')
}

export function renderMarkdown(r: Result): string {
  const o: string[] = []
  o.push(
    `Run of ${r.date.slice(0, 16).replace('T', ' ')} UTC · \`${r.command}\` · ${r.machine.cores} cores (${r.machine.cpu}) · Node ${r.machine.node} · ` +
      `${r.machine.pinned ? 'servers pinned to CPU 0, load generator (autocannon) to CPU 1' : 'unpinned'} · ` +
      `${r.connections} connections · median of ${r.rounds} rounds of ${r.seconds} s per scenario, scenarios of one server in alternation.`,
  )
  o.push('')
  o.push('| scenario | req/s | p50 ms | p99 ms | server CPU | CPU µs / req | ratio |')
  o.push('|---|---:|---:|---:|---:|---:|---|')
  const byId = new Map(r.rows.map((x) => [x.id, x]))
  for (const x of r.rows.filter((x) => !['login', 'flood', 'burst'].includes(x.group))) {
    const base = x.baseline ? byId.get(x.baseline) : undefined
    const paced = x.serverCpu !== null && x.serverCpu < 0.8 && !x.id.startsWith('refresh.') ? ' †' : ''
    o.push(
      `| ${x.label.replace(/\s{2,}/g, ' — ')} | ${n0(x.rps)}${paced} | ${x.p50 ?? '—'} | ${x.p99 ?? '—'} | ${x.serverCpu === null ? '—' : `${Math.round(x.serverCpu * 100)} %`} | ${n1(x.cpuUsPerRequest)} | ${
        x.ratio !== undefined && base ? `${x.ratio.toFixed(2)} × ${short(base, x)}` : ''
      } |`,
    )
  }
  o.push('')
  o.push('† the server was less than 80 % busy: the load generator (or a neighbour on the machine) set the pace; read the CPU µs per request.')
  o.push('')
  o.push('| passwords and memory | figure |')
  o.push('|---|---|')
  const raw = byId.get('argon2.raw')
  const login = byId.get('login')
  if (raw) o.push(`| argon2id verify, raw, 19 MiB t=2 p=1, 4 at a time (libuv threadpool), server's core | ${n0(raw.rps)} /s |`)
  if (login) o.push(`| \`POST /auth/login\` (OWASP argon2id, 8 connections) | ${n0(login.rps)} /s, p99 ${login.p99} ms: ${login.ratio?.toFixed(2)} × raw argon2id |`)
  for (const [f, what] of [
    [r.flood, ''],
    [r.floodPool1, ', libuv threadpool of 1 (`UV_THREADPOOL_SIZE=1`)'],
  ] as const) {
    if (!f) continue
    o.push(`| \`GET /api/me\` at ${f.apiRate}/s, idle${what} | p50 ${f.idle.p50} ms, p99 ${f.idle.p99} ms |`)
    o.push(
      `| the same under a wrong-password flood${what} (${f.floodConnections} connections, ${n0(f.floodLoginsPerSecond)} hashed/s, answers ${Object.entries(f.floodStatuses)
        .map(([s, c]) => `${c} × ${s}`)
        .join(', ')}) | p50 ${f.underFlood.p50} ms, p99 ${f.underFlood.p99} ms (${typeof f.p99Ratio === 'number' && Number.isFinite(f.p99Ratio) ? `${f.p99Ratio.toFixed(1)} × idle` : 'no answer in the window'}); ${n0(f.underFlood.rps)} of the ${f.apiRate} req/s served |`,
    )
  }
  for (const b of r.refreshBursts ?? []) {
    o.push(
      `| \`GET /api/me\` at ${b.apiRate}/s on ${b.store}: idle, then during a refresh burst (${n0(b.underBurst.refreshesPerSecond)} rotations/s) | p99 ${b.idle.p99} ms → ${b.underBurst.p99} ms (p50 ${b.idle.p50} → ${b.underBurst.p50} ms) |`,
    )
  }
  if (r.memory) {
    const m = r.memory
    o.push(
      `| server RSS with ${n0(m.sessions)} live sessions in the store, after authenticated traffic (${n0(m.trafficRps)} req/s, ${n0(m.distinctTokensInTraffic)} distinct bearer tokens) | ${m.rssAfterTrafficMiB} MiB (at start ${m.rssAtStartMiB} MiB, after inserting the sessions ${m.rssAfterSeedMiB} MiB; a bare node:http process ${r.bareRssMiB ?? '—'} MiB) |`,
    )
  }
  o.push('')
  o.push('| target (ratios of this run) | by req/s | by server CPU per request | goal | |')
  o.push('|---|---:|---:|---|---|')
  const f2 = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(2) : '—')
  for (const t of r.targets) {
    const verdict = t.name.startsWith('(not') ? '' : t.met === null ? 'not measured' : t.met ? 'met' : '**missed**'
    o.push(`| ${t.name} | ${f2(t.value)} | ${f2(t.byCpu)} | ${t.atMost ? '≤' : '≥'} ${t.goal} | ${verdict} |`)
  }
  o.push('')
  o.push('| verification step alone (one core, in process) | ops/s | µs/op |')
  o.push('|---|---:|---:|')
  for (const m of r.micro) o.push(`| ${m.name} | ${m.opsPerSec.toLocaleString('en-US')} | ${(m.nsPerOp / 1000).toFixed(2)} |`)
  return o.join('\n') + '\n'
}

/** Rewrites the figures between the markers of a Markdown page (the rest of the page is left as it is). */
export function updatePage(file: string, r: Result): boolean {
  const page = readFileSync(file, 'utf8')
  const a = page.indexOf(START)
  const b = page.indexOf(END)
  if (a < 0 || b < a) return false
  writeFileSync(file, page.slice(0, a + START.length) + '\n\n' + renderMarkdown(r) + '\n' + page.slice(b))
  return true
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(renderMarkdown(JSON.parse(readFileSync(process.argv[2] ?? 'docs/benchmarks.json', 'utf8')) as Result))
}
