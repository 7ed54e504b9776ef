/**
 * `bastion audit` arguments: every name the audit uses is an option, with
 * Bastion's contract as the default, like the browser client's options, so
 * the same audit runs against any double-submit deployment.
 */
import { parseArgs } from 'node:util'

export const AUDIT_USAGE = `usage: bastion audit <url> [options] [--json]

  A black-box report card of a deployment (Bastion or not), over HTTP only:
  cookie attributes and prefixes, tokens in bodies and headers, CSRF on login
  and on a state-changing request, Origin and Sec-Fetch-Site checks, CORS
  reflection, session fixation, refresh rotation and reuse detection, logout,
  the access JWT's header and claims, security headers. It sends only what a
  user's browser could send: at most 100 requests in at most 60 s.

names (defaults are Bastion's):
  --csrf-cookie <name>      CSRF cookie                    (__Host-csrf)
  --csrf-header <name>      CSRF request header            (X-CSRF-Token)
  --csrf-path <path>        GET that hands out the token   (/auth/csrf)
  --login <path>            POST {"username","password"}   (/auth/login)
  --refresh <path>          POST, rotates the refresh      (/auth/refresh)
  --logout <path>           POST, ends the session         (/auth/logout)
  --session <path>          authenticated GET (auth)       (/auth/session)
  --me <path>               authenticated GET (API)        (/api/me)
  --jwks <path>             published signing keys         (/.well-known/jwks.json)
  --access-cookie <names>   authenticating cookies, comma-separated (default: what login sets)
  --refresh-cookie <names>  refresh cookies (default: a name with "refresh", or a path-scoped one)

who (without one, only the unauthenticated checks run):
  --username <u> --password <p>   an account to sign in with (twice, in two sessions)
  --register <path>               or create a throwaway account there first (e.g. /auth/register)

the state-changing request to attack (optional; without it the Origin checks use the login):
  --post <path>             e.g. /api/transfer; the audit sends it once legitimately
  --post-body <json>        its JSON body ({})

  --origin-foreign <origin> the attacker's origin           (https://evil.example)
  --grace <seconds>         the server's refresh grace       (10). A replay of the old
                            refresh token right after rotation is always tried; the replay
                            beyond the grace (which must revoke the session) only when the
                            grace is at most 5 s, since the audit has to wait it out
  --timeout <seconds>       per request                      (10)
  --json                    machine-readable output
  -h, --help

exit code: 0 no check failed, 1 a check failed (or the target is unreachable), 2 usage.`

export interface AuditOptions {
  url: URL
  json: boolean
  csrf: { cookie: string; header: string; path: string }
  paths: { login: string; refresh: string; logout: string; session: string; me: string; jwks: string; register?: string; post?: string }
  postBody: string
  accessCookies?: string[]
  refreshCookies?: string[]
  credentials?: { username: string; password: string }
  originForeign: string
  /** Seconds. */
  grace: number
  /** Milliseconds per request. */
  timeoutMs: number
}

export class UsageError extends Error {}

const spec = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  'csrf-cookie': { type: 'string' },
  'csrf-header': { type: 'string' },
  'csrf-path': { type: 'string' },
  login: { type: 'string' },
  refresh: { type: 'string' },
  logout: { type: 'string' },
  session: { type: 'string' },
  me: { type: 'string' },
  jwks: { type: 'string' },
  register: { type: 'string' },
  post: { type: 'string' },
  'post-body': { type: 'string' },
  'access-cookie': { type: 'string' },
  'refresh-cookie': { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  'origin-foreign': { type: 'string' },
  grace: { type: 'string' },
  timeout: { type: 'string' },
} as const

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/ // RFC 9110 token: a header or cookie name

function path(name: string, value: string | undefined, fallback: string): string {
  const v = value ?? fallback
  if (!v.startsWith('/') || v.startsWith('//')) throw new UsageError(`--${name} must be a path starting with "/", got "${v}"`)
  return v
}

function httpName(name: string, value: string | undefined, fallback: string): string {
  const v = value ?? fallback
  if (!TOKEN.test(v)) throw new UsageError(`--${name} must be a cookie or header name, got "${v}"`)
  return v
}

function seconds(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) throw new UsageError(`--${name} must be a number of seconds from 0 to ${max}, got "${value}"`)
  return n
}

function timeout(value: string | undefined): number {
  const s = seconds('timeout', value, 10, 60)
  if (s < 0.1) throw new UsageError(`--timeout must be at least 0.1 seconds, got "${value}"`)
  return Math.round(s * 1000)
}

function names(option: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined
  const list = value.split(',').map((s) => s.trim()).filter(Boolean)
  if (!list.length || !list.every((n) => TOKEN.test(n))) throw new UsageError(`--${option} must be cookie names separated by commas, got "${value}"`)
  return list
}

/** Parses the arguments; `'help'` for --help; throws UsageError on anything wrong. */
export function parseAuditArgs(args: string[]): AuditOptions | 'help' {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: spec })
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  const v = parsed.values
  if (v.help) return 'help'
  if (parsed.positionals.length !== 1) throw new UsageError(parsed.positionals.length ? 'one URL, please' : 'the URL to audit is missing')
  let url: URL
  try {
    url = new URL(parsed.positionals[0]!)
  } catch {
    throw new UsageError(`not a URL: "${parsed.positionals[0]}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the URL must be http:// or https://, got "${url.protocol}"`)
  if (url.username || url.password) throw new UsageError('no credentials in the URL; use --username and --password')

  if ((v.username === undefined) !== (v.password === undefined)) throw new UsageError('--username and --password go together')
  if (v.register !== undefined && v.username !== undefined) throw new UsageError('--register creates its own throwaway account: give it or --username/--password, not both')
  if (v['post-body'] !== undefined && v.post === undefined) throw new UsageError('--post-body needs --post')
  const postBody = v['post-body'] ?? '{}'
  try {
    JSON.parse(postBody)
  } catch {
    throw new UsageError(`--post-body must be JSON, got ${postBody}`)
  }
  let originForeign = v['origin-foreign'] ?? 'https://evil.example'
  try {
    const o = new URL(originForeign)
    if (o.origin === 'null' || o.origin !== originForeign.replace(/\/$/, '')) throw new Error()
    originForeign = o.origin
  } catch {
    throw new UsageError(`--origin-foreign must be an origin like https://evil.example, got "${originForeign}"`)
  }
  if (originForeign === url.origin) throw new UsageError('--origin-foreign must not be the audited origin')

  const accessCookies = names('access-cookie', v['access-cookie'])
  const refreshCookies = names('refresh-cookie', v['refresh-cookie'])
  return {
    url,
    json: v.json ?? false,
    csrf: {
      cookie: httpName('csrf-cookie', v['csrf-cookie'], '__Host-csrf'),
      header: httpName('csrf-header', v['csrf-header'], 'X-CSRF-Token'),
      path: path('csrf-path', v['csrf-path'], '/auth/csrf'),
    },
    paths: {
      login: path('login', v.login, '/auth/login'),
      refresh: path('refresh', v.refresh, '/auth/refresh'),
      logout: path('logout', v.logout, '/auth/logout'),
      session: path('session', v.session, '/auth/session'),
      me: path('me', v.me, '/api/me'),
      jwks: path('jwks', v.jwks, '/.well-known/jwks.json'),
      ...(v.register !== undefined ? { register: path('register', v.register, '') } : {}),
      ...(v.post !== undefined ? { post: path('post', v.post, '') } : {}),
    },
    postBody,
    ...(accessCookies ? { accessCookies } : {}),
    ...(refreshCookies ? { refreshCookies } : {}),
    ...(v.username !== undefined && v.password !== undefined ? { credentials: { username: v.username, password: v.password } } : {}),
    originForeign,
    grace: seconds('grace', v.grace, 10, 300),
    timeoutMs: timeout(v.timeout),
  }
}
