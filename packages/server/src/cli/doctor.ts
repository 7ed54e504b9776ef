/**
 * `bastion doctor [--url URL] [--json]`: every reason a browser would drop
 * Bastion's cookies, or not send them, with this configuration (the
 * environment the server reads) and, with `--url`, at a live deployment; each
 * finding with its fix. Exit code 1 when anything fails.
 *
 * @example
 * ```sh
 * NODE_ENV=production BASTION_PUBLIC_ORIGIN=https://app.example.com BASTION_TRUST_PROXY=1 \
 *   npx bastion doctor --url https://app.example.com
 * ```
 */
import { parseArgs } from 'node:util'
import { EXIT_OK, EXIT_USAGE, type CliIo, type Command } from './io.ts'
import { printReport, type Finding } from './report.ts'
import { checkConfig } from './doctor/config-checks.ts'
import { checkLive } from './doctor/live-checks.ts'

export const DOCTOR_USAGE = [
  'usage: bastion doctor [--url URL] [--csrf-path PATH] [--timeout SECONDS] [--json]',
  '',
  '  Checks the configuration in the environment (PORT, HOST, BASTION_PUBLIC_ORIGIN,',
  '  BASTION_ALLOWED_ORIGINS, BASTION_TRUST_PROXY, BASTION_HTTPS, NODE_ENV, ...) for every',
  '  reason a browser would drop or not send the auth cookies, each with its fix.',
  '',
  '  --url URL          also check a live deployment: GET its CSRF endpoint (with each allowed',
  '                     origin too) and POST logout with that pre-session; no account is needed',
  '                     and no session is touched',
  '  --csrf-path PATH   the CSRF endpoint (default /auth/csrf; logout is its sibling)',
  '  --timeout SECONDS  per request (default 5)',
  '  --json             machine-readable output',
  '',
  '  Exit code: 0 no failure (warnings allowed), 1 a check failed, 2 usage error.',
].join('\n')

const DEFAULT_TIMEOUT_S = 5

interface DoctorArgs {
  url: URL | null
  csrfPath: string
  timeoutMs: number
  json: boolean
  help: boolean
}

function parse(args: string[]): DoctorArgs | string {
  let values: { url?: string; 'csrf-path'?: string; timeout?: string; json?: boolean; help?: boolean }
  try {
    ;({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        'csrf-path': { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
  let url: URL | null = null
  if (values.url !== undefined) {
    try {
      url = new URL(values.url)
    } catch {
      return `--url "${values.url}" is not a URL (e.g. https://app.example.com).`
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `--url must be http:// or https://, got ${url.protocol}`
  }
  const csrfPath = values['csrf-path'] ?? '/auth/csrf'
  if (!csrfPath.startsWith('/') || csrfPath.startsWith('//')) return `--csrf-path must be an absolute path such as /auth/csrf, got "${csrfPath}".`
  const timeout = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout)
  if (!(Number.isFinite(timeout) && timeout > 0 && timeout <= 60)) return `--timeout must be a number of seconds between 0 and 60, got "${values.timeout}".`
  return { url, csrfPath, timeoutMs: Math.round(timeout * 1000), json: values.json ?? false, help: values.help ?? false }
}

/** Drops a finding said twice (the same check from the configuration and from the live URL). */
function unique(findings: Finding[]): Finding[] {
  const seen = new Set<string>()
  return findings.filter((f) => {
    const key = `${f.id}\u0000${f.title}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

export const doctor: Command = async (args: string[], io: CliIo): Promise<number> => {
  const parsed = parse(args)
  if (typeof parsed === 'string') {
    io.err(`bastion doctor: ${parsed}`)
    for (const line of DOCTOR_USAGE.split('\n')) io.err(line)
    return EXIT_USAGE
  }
  if (parsed.help) {
    for (const line of DOCTOR_USAGE.split('\n')) io.out(line)
    return EXIT_OK
  }
  const { url } = parsed
  const config = checkConfig(io.env, url)
  const findings = [...config.findings]
  if (url) {
    const live = await checkLive({ url, csrfPath: parsed.csrfPath, timeoutMs: parsed.timeoutMs, view: config.view })
    findings.push(...live.findings)
  }
  const target = url ? `bastion doctor: the configuration in the environment, and ${url.origin}` : 'bastion doctor: the configuration in the environment'
  return printReport({ target, findings: unique(findings) }, io, { json: parsed.json })
}
