/**
 * The shapes a bench run produces, shared by the stages that follow each
 * other: run.ts measures and makes rows, report.ts and plot.ts render them.
 * Nothing here imports a stage, so the bench reads in one direction:
 * measure → rows → report.
 */

export interface Row {
  id: string
  group: string
  stack: 'ceiling' | 'bastion' | 'bastion-demo' | 'bastion-web' | 'bastion-hono' | 'bastion-express' | 'peer-express' | 'peer-better-auth' | 'argon2'
  label: string
  rps: number
  p50: number | null
  p99: number | null
  serverCpu: number | null
  cpuUsPerRequest: number | null
  /** The id of the row this one is read against. */
  baseline?: string
  ratio?: number
  note?: string
}

export interface FloodSummary {
  apiRate: number
  idle: { p50: number; p99: number; rps: number }
  underFlood: { p50: number; p99: number; rps: number; serverCpu: number | null }
  floodConnections: number
  floodStatuses: Record<string, number>
  floodLoginsPerSecond: number
  p99Ratio: number
}

/** API latency while refreshes run on the same server: the p99 a user's page sees next to a burst of rotations. */
export interface RefreshBurst {
  store: string
  apiRate: number
  idle: { p50: number; p99: number }
  underBurst: { p50: number; p99: number; refreshesPerSecond: number }
}

export interface Target {
  name: string
  value: number | null
  goal: number
  atMost?: boolean
  met: boolean | null
  byCpu?: number | null
}

export interface Result {
  date: string
  smoke?: boolean
  machine: { cores: number; cpu: string; node: string; pinned: boolean }
  command: string
  seconds: number
  rounds: number
  connections: number
  rows: Row[]
  flood?: FloodSummary
  floodPool1?: FloodSummary
  refreshBursts?: RefreshBurst[]
  memory?: Record<string, number>
  bareRssMiB?: number
  micro: Array<{ name: string; opsPerSec: number; nsPerOp: number }>
  targets: Target[]
  failures?: string[]
}
