/**
 * Findings of `bastion doctor` and `bastion audit`, and how both print them:
 * a table for people, JSON for machines. The exit code is the verdict: 1 when
 * any finding is a failure.
 */
import type { CliIo } from './io.ts'

/** `fail` breaks something (the exit code says so); `warn` may; `pass` is a check that held; `info` is context. */
export type Severity = 'fail' | 'warn' | 'pass' | 'info'

export interface Finding {
  /** Stable identifier a script can switch on, e.g. `cookie-secure-missing`. */
  id: string
  severity: Severity
  /** One line: what was found. */
  title: string
  /** Why it matters, with the evidence (a header, a status). */
  detail?: string
  /** What to change. Present on every `fail` and `warn`. */
  fix?: string
}

export interface Report {
  /** What was examined, e.g. the URL or "configuration". */
  target: string
  findings: Finding[]
}

export function failed(report: Report): boolean {
  return report.findings.some((f) => f.severity === 'fail')
}

const MARK: Record<Severity, string> = { fail: 'FAIL', warn: 'WARN', pass: 'ok', info: 'info' }

/** Prints the report (table or JSON) and returns the exit code: 1 if anything failed, else 0. */
export function printReport(report: Report, io: CliIo, options: { json?: boolean } = {}): number {
  if (options.json) {
    const counts = { fail: 0, warn: 0, pass: 0, info: 0 }
    for (const f of report.findings) counts[f.severity]++
    io.out(JSON.stringify({ target: report.target, ok: !failed(report), counts, findings: report.findings }, null, 2))
    return failed(report) ? 1 : 0
  }
  io.out(report.target)
  const width = Math.max(...report.findings.map((f) => MARK[f.severity].length), 4)
  for (const f of report.findings) {
    io.out(`  ${MARK[f.severity].padEnd(width)}  ${f.title}`)
    if (f.severity === 'fail' || f.severity === 'warn') {
      if (f.detail) io.out(`  ${' '.repeat(width)}    ${f.detail}`)
      if (f.fix) io.out(`  ${' '.repeat(width)}    fix: ${f.fix}`)
    }
  }
  const n = (s: Severity): number => report.findings.filter((f) => f.severity === s).length
  io.out(`${n('fail')} failed, ${n('warn')} warnings, ${n('pass')} passed`)
  return failed(report) ? 1 : 0
}
