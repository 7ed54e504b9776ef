/**
 * The bench's plot, as a self-contained SVG (no plotting dependency):
 * throughput (left) and p99 latency (right) of every HTTP scenario, coloured
 * by stack, Bastion next to its peers.
 *
 * Re-draw from a saved run: `node --import tsx bench/plot.ts docs/benchmarks.json`.
 */
import { readFileSync, writeFileSync } from 'node:fs'

interface PlotRow {
  id: string
  stack: string
  label: string
  rps: number
  p99: number | null
  ratio?: number
  baseline?: string
  group: string
}

interface PlotInput {
  date: string
  machine: { cores: number; node: string }
  command: string
  rows: PlotRow[]
}

const COLORS: Record<string, string> = {
  ceiling: '#7f7f7f',
  bastion: '#1f77b4',
  'bastion-demo': '#6baed6',
  'bastion-express': '#9ecae1',
  'peer-express': '#d62728',
  'peer-better-auth': '#ff7f0e',
}
const NAMES: Record<string, string> = {
  ceiling: 'node:http hello world',
  bastion: 'Bastion, guard on node:http',
  'bastion-demo': 'Bastion demo bank (web adapter)',
  'bastion-express': 'Bastion on Express',
  'peer-express': 'Express + jsonwebtoken + csrf-csrf',
  'peer-better-auth': 'Better Auth (cookie cache)',
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** A round step for axis ticks. */
function step(max: number, ticks = 5): number {
  const raw = max / ticks
  const p = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw)!
}

export function renderSvg(input: PlotInput): string {
  // HTTP scenarios only: the login and flood figures (tens of requests per second, p99 in hundreds of ms) have their own table.
  const rows = input.rows.filter((r) => r.stack in COLORS && r.rps > 0 && r.group !== 'login' && r.group !== 'flood')
  const labelW = 530
  const panelW = 300
  const gap = 60
  const rowH = 22
  const top = 70
  const width = labelW + panelW * 2 + gap + 40
  const height = top + rows.length * rowH + 100
  const maxRps = Math.max(...rows.map((r) => r.rps), 1)
  const maxP99 = Math.max(...rows.map((r) => r.p99 ?? 0), 1)
  const sR = step(maxRps)
  const sP = step(maxP99)
  const axR = Math.ceil(maxRps / sR) * sR
  const axP = Math.ceil(maxP99 / sP) * sP
  const x1 = labelW
  const x2 = labelW + panelW + gap
  const o: string[] = []
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`)
  o.push(`<rect width="100%" height="100%" fill="#fff"/>`)
  o.push(`<text x="12" y="22" font-size="15" font-weight="600">Bastion: throughput and p99 latency per scenario, beside the peers</text>`)
  o.push(`<text x="12" y="40" fill="#555">${esc(`${input.date.slice(0, 10)} · ${input.machine.cores} cores · Node ${input.machine.node} · ${input.command} · server on one core`)}</text>`)
  o.push(`<text x="${x1}" y="${top - 10}" font-weight="600">requests per second (higher is better)</text>`)
  o.push(`<text x="${x2}" y="${top - 10}" font-weight="600">p99 latency, ms (lower is better)</text>`)
  for (const [x, ax, s, w] of [
    [x1, axR, sR, panelW],
    [x2, axP, sP, panelW],
  ] as const) {
    for (let v = 0; v <= ax + 1e-9; v += s) {
      const px = x + (v / ax) * w
      o.push(`<line x1="${px.toFixed(1)}" y1="${top}" x2="${px.toFixed(1)}" y2="${top + rows.length * rowH}" stroke="#e5e5e5"/>`)
      const t = v >= 1000 ? `${(v / 1000).toFixed(v % 1000 ? 1 : 0)}k` : String(+v.toFixed(2))
      o.push(`<text x="${px.toFixed(1)}" y="${top + rows.length * rowH + 14}" text-anchor="middle" fill="#555">${t}</text>`)
    }
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH
    const c = COLORS[r.stack]!
    if (i > 0 && rows[i - 1]!.group !== r.group) o.push(`<line x1="8" y1="${y}" x2="${width - 8}" y2="${y}" stroke="#bbb" stroke-dasharray="3,3"/>`)
    o.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(r.label)}</text>`)
    const w = (r.rps / axR) * panelW
    o.push(`<rect x="${x1}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${c}"/>`)
    const txt = `${Math.round(r.rps).toLocaleString('en-US')}${r.ratio !== undefined ? `  (${r.ratio.toFixed(2)}×)` : ''}`
    o.push(`<text x="${(x1 + w + 4).toFixed(1)}" y="${y + 15}" fill="#333">${esc(txt)}</text>`)
    if (r.p99 !== null) {
      const pw = (r.p99 / axP) * panelW
      o.push(`<rect x="${x2}" y="${y + 4}" width="${Math.max(pw, 1).toFixed(1)}" height="${rowH - 8}" fill="${c}" opacity="0.75"/>`)
      o.push(`<text x="${(x2 + pw + 4).toFixed(1)}" y="${y + 15}" fill="#333">${r.p99}</text>`)
    }
  })
  const ly = top + rows.length * rowH + 36
  let lx = 12
  let lyy = ly
  for (const [k, name] of Object.entries(NAMES)) {
    if (!rows.some((r) => r.stack === k)) continue
    const w = 28 + name.length * 6.6
    if (lx + w > width - 12) {
      lx = 12
      lyy += 18
    }
    o.push(`<rect x="${lx}" y="${lyy}" width="12" height="12" fill="${COLORS[k]}"/>`)
    o.push(`<text x="${lx + 16}" y="${lyy + 10}">${esc(name)}</text>`)
    lx += w
  }
  o.push(`<text x="12" y="${lyy + 30}" fill="#555">Ratios in brackets: against the row's baseline (a route's own server's GET /api/public; a public route's: the node:http hello world).</text>`)
  o.push('</svg>')
  return o.join('\n') + '\n'
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? 'docs/benchmarks.json'
  const svg = file.replace(/\.json$/, '') + '.svg'
  writeFileSync(svg, renderSvg(JSON.parse(readFileSync(file, 'utf8')) as PlotInput))
  process.stdout.write(`Wrote ${svg}\n`)
}
