/**
 * `bastion audit <url> [options] [--json]`: a black-box report card of any
 * deployment, Bastion or not, over HTTP only (nothing of Bastion's server is
 * imported here: every name is an option, Bastion's contract the default).
 *
 * It plays two browsers of one user and an attacker's, sends only what a
 * browser could send, at most MAX_REQUESTS (100) requests within
 * MAX_TOTAL_MS (60 s), each with a timeout (--timeout, 10 s), and prints one
 * finding per check (`report.ts`); the exit code is 1 when a check fails.
 * Ids are stable: a check's pass id, and for what it found an id with a
 * suffix (`-missing`, `-accepted`, …). The families, one module each:
 *
 *   this file     target-unreachable; login / login-failed; register / register-failed; audit-unauthenticated (no account);
 *                 auth-me / auth-me-refused, auth-me-public (the --me route must answer 2xx signed in, 401 anonymous,
 *                 or the replay checks stay silent); csrf-token / csrf-token-unavailable;
 *                 audit-incomplete (stopped by the cap, the time bound, or an answer it could not handle: a fail),
 *                 audit-request-failed (one step's request got no answer), audit-summary (requests, time)
 *   headers.ts    tls / tls-loopback / tls-missing; header-hsts(-missing|-short); header-csp(-missing|-weak);
 *                 header-frame(-missing); header-nosniff(-missing); header-no-store(-missing); header-page-not-html
 *   cookies.ts    cookie-httponly(-missing), cookie-secure(-missing), cookie-samesite(-missing|-none|-invalid),
 *                 cookie-prefix(-invalid|-missing), cookie-host-only / cookie-domain-wide,
 *                 cookie-refresh-path(-wide|-mismatch), cookie-lifetime(-long), cookie-none
 *   tokens.ts     token-exposure / token-in-body, token-in-header
 *   csrf.ts       csrf-login(-accepted); post-baseline / post-baseline-refused, post-unauthenticated;
 *                 csrf-missing, csrf-forged, csrf-cross-session, origin-foreign, origin-null, fetch-site-cross,
 *                 fetch-site-same (each: pass, -accepted fail, -inconclusive warn); csrf-post-skipped (no --post)
 *   cors.ts       cors-reflection / cors-reflected, cors-null-reflected, cors-wildcard, cors-allowed-without-credentials
 *   session.ts    session-fixation / session-fixation-adopted, session-id-not-renewed;
 *                 refresh-rotation / refresh-not-rotated, refresh-refused, refresh-absent;
 *                 refresh-replay(-grace) / refresh-replay-forked; refresh-reuse-detection / refresh-reuse-undetected,
 *                 refresh-reuse-access-alive, refresh-reuse-untested (grace over 5 s);
 *                 logout-access-revoked / logout-access-still-valid, logout-refresh-revoked / logout-refresh-still-valid,
 *                 logout-cookies-kept, logout-refused
 *   jwt.ts        jwt-alg / jwt-alg-none, jwt-alg-symmetric, jwt-weak-secret; jwt-typ(-missing); jwt-lifetime /
 *                 jwt-exp-missing, jwt-lifetime-long; jwt-kid(-missing|-unknown); jwt-claims(-missing);
 *                 jwt-encrypted, jwt-none (opaque); jwks / jwks-private-key, jwks-absent
 *
 * The order of the run: the page; GET csrf-path; (register); a login without
 * the CSRF header; login (session A); GET --me signed in and anonymous; the
 * attacker's browser and a second login from its cookies (session B:
 * fixation, and the other session's CSRF token); the --post once
 * legitimately, once without cookies, then its seven forgeries; CORS; refresh
 * of A and an immediate replay; logout of B and its replays; the replay of
 * A's old refresh token after the grace; the JWKS. Cookies, tokens in bodies
 * and headers are then read from everything received.
 */
import { randomBytes } from 'node:crypto'
import { EXIT_OK, EXIT_USAGE, type Command } from './io.ts'
import { printReport, type Finding, type Report } from './report.ts'
import { Browser, Findings, type AuditContext } from './audit/context.ts'
import { checkCookies, identifyRoles, type Roles } from './audit/cookies.ts'
import { probeCors } from './audit/cors.ts'
import { probeLoginCsrf, probeStateChanging, type Credentials } from './audit/csrf.ts'
import { checkHeaders, checkTransport } from './audit/headers.ts'
import { accepted, AuditStopped, HttpClient, MAX_REQUESTS, MAX_TOTAL_MS, RequestFailed, statusLine, type Exchange, type Limits } from './audit/http.ts'
import { checkJwt, fetchJwks } from './audit/jwt.ts'
import { AUDIT_USAGE, parseAuditArgs, UsageError, type AuditOptions } from './audit/options.ts'
import { probeFixation, probeLogout, probeRefresh, probeReuse } from './audit/session.ts'
import { checkTokenExposure, findJwts } from './audit/tokens.ts'

export { AUDIT_USAGE } from './audit/options.ts'

export const audit: Command = async (args, io) => {
  let options: AuditOptions
  try {
    const parsed = parseAuditArgs(args)
    if (parsed === 'help') {
      io.out(AUDIT_USAGE)
      return EXIT_OK
    }
    options = parsed
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`bastion audit: ${e.message}\n\n${AUDIT_USAGE}`)
      return EXIT_USAGE
    }
    throw e
  }
  return printReport(await runAudit(options), io, { json: options.json })
}

/** The order families are printed in, by id prefix (insertion order within a family). */
const FAMILIES = [['target', 'tls', 'register', 'login', 'auth', 'csrf-token'], ['cookie'], ['token'], ['csrf', 'post', 'origin', 'fetch-site'], ['cors'], ['session'], ['refresh'], ['logout'], ['jwt', 'jwks'], ['header'], ['audit']]
const rank = (f: Finding) => {
  const i = FAMILIES.findIndex((family) => family.some((p) => f.id === p || f.id.startsWith(p + '-')))
  return i < 0 ? FAMILIES.length : i
}

/** Runs a step; a request that got no answer is a warning for that step (its result undefined), and the audit goes on. */
async function step<T>(ctx: AuditContext, what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run()
  } catch (e) {
    if (!(e instanceof RequestFailed)) throw e
    ctx.findings.warn('audit-request-failed', `${what}: a request got no answer`, e.message, 'Check that the deployment answers this route (and --timeout); the checks of this step did not complete.')
    return undefined
  }
}

/** The audited page, following at most 3 same-origin redirects (each one counted). */
async function fetchPage(ctx: AuditContext): Promise<Exchange> {
  const browser = new Browser(ctx)
  let url = ctx.options.url
  let e = await browser.send('page', 'GET', url.pathname + url.search, { site: 'omit', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
  for (let hops = 0; hops < 3 && e.status >= 300 && e.status < 400; hops++) {
    const location = e.headers.get('location')
    if (!location) break
    try {
      url = new URL(location, url)
    } catch {
      break
    }
    if (url.origin !== ctx.origin) break
    e = await browser.send('page', 'GET', url.pathname + url.search, { site: 'omit', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
  }
  return e
}

/** The access token to check: the first authenticating cookie from login that holds a JWT (or JWE). */
function accessJwt(login: Exchange | undefined, roles: Roles, a: Browser): { cookie: string; token: string } | 'opaque' | undefined {
  if (!login) return undefined
  const names = roles.access.filter((n) => a.jar.get(n))
  for (const n of names) {
    const value = a.jar.get(n)!.value
    if (findJwts(value)[0] === value) return { cookie: n, token: value }
  }
  return names.length ? 'opaque' : undefined
}

/** Runs every check against `options.url`; never throws for anything the deployment does. */
export async function runAudit(options: AuditOptions, limits: Partial<Limits> = {}): Promise<Report> {
  const ctx: AuditContext = {
    options,
    origin: options.url.origin,
    client: new HttpClient({ maxRequests: MAX_REQUESTS, totalMs: MAX_TOTAL_MS, timeoutMs: options.timeoutMs, ...limits }),
    findings: new Findings(),
    legitimatePosts: 0,
  }
  const f = ctx.findings
  const { paths } = options
  let page: Exchange | undefined
  let loginA: Exchange | undefined
  let roles = identifyRoles(options, undefined)
  const a = new Browser(ctx)

  try {
    try {
      page = await fetchPage(ctx)
    } catch (e) {
      if (!(e instanceof RequestFailed)) throw e
      f.fail('target-unreachable', `${options.url.href} is unreachable`, e.message, 'Check the URL (scheme, host, port) and that the deployment is running and reachable from here; for a certificate of your own CA, run with NODE_EXTRA_CA_CERTS=ca.pem.')
      return finish(ctx)
    }
    checkTransport(ctx)

    await step(ctx, 'the CSRF token', async () => {
      const e = await a.send('csrf', 'GET', options.csrf.path)
      const cookie = a.jar.get(options.csrf.cookie)
      if (cookie) f.pass('csrf-token', `GET ${options.csrf.path} sets the CSRF cookie ${options.csrf.cookie}`)
      else if (a.bodyCsrf) f.pass('csrf-token', `GET ${options.csrf.path} hands out a CSRF token in its body (no ${options.csrf.cookie} cookie)`)
      else f.warn('csrf-token-unavailable', `GET ${options.csrf.path} handed out no CSRF token (${statusLine(e)})`, `No ${options.csrf.cookie} cookie and no csrfToken in the body; requests go without ${options.csrf.header}.`, 'Check --csrf-path and --csrf-cookie; a deployment without CSRF tokens must refuse forged requests some other way, and the probes below will say whether it does.')
    })

    let credentials: Credentials | undefined = options.credentials
    if (paths.register) {
      await step(ctx, 'registration', async () => {
        const throwaway = { username: `audit-${randomBytes(4).toString('hex')}`, password: randomBytes(18).toString('base64url') }
        const e = await a.send('register', 'POST', paths.register!, { json: throwaway })
        if (accepted(e)) {
          credentials = throwaway
          f.pass('register', `Registered the throwaway account ${throwaway.username} (${statusLine(e)})`)
        } else {
          f.fail('register-failed', `Registration at ${paths.register} answered ${statusLine(e)}`, e.text.slice(0, 200), 'Check --register and the CSRF names, or audit with --username and --password.')
        }
      })
    }

    if (!credentials) {
      if (!paths.register) f.info('audit-unauthenticated', 'No account given: login, CSRF, CORS, session, refresh, logout and JWT checks did not run', 'Pass --username and --password (an account of its own is best), or --register PATH for a throwaway one.')
    } else {
      const creds = credentials
      const pre = a.clone()
      await step(ctx, 'login CSRF', () => probeLoginCsrf(ctx, pre.clone(), creds))
      loginA = await step(ctx, 'login', async () => {
        const e = await a.send('login', 'POST', paths.login, { json: creds })
        if (accepted(e)) return e
        f.fail('login-failed', `Could not sign in as ${creds.username}: POST ${paths.login} answered ${statusLine(e)}`, e.text.slice(0, 200), 'Check --username/--password, --login and the CSRF names (--csrf-cookie, --csrf-header, --csrf-path).')
        return undefined
      })
      if (loginA) {
        const login = loginA
        roles = identifyRoles(options, login)
        const auth = [...roles.access, ...roles.refresh]
        f.pass('login', `Signed in as ${creds.username} (${statusLine(login)}); authenticating cookies: ${auth.join(', ') || 'none'}`)
        const meWorks =
          (await step(ctx, 'the authenticated GET', async () => {
            const me = await a.send('me', 'GET', paths.me)
            await a.send('session', 'GET', paths.session)
            if (!accepted(me)) {
              f.warn('auth-me-refused', `GET ${paths.me} with the session's cookies answered ${statusLine(me)}`, 'The checks that replay cookies there (fixation, logout, reuse) cannot tell a refusal from a wrong path, so they did not run.', 'Give --me an authenticated GET of the API.')
              return false
            }
            // A route that answers 2xx without cookies too (an SPA fallback, a public route) proves nothing when replayed.
            const anonymous = await new Browser(ctx).send('me-anonymous', 'GET', paths.me)
            if (accepted(anonymous)) {
              f.warn('auth-me-public', `GET ${paths.me} answers ${statusLine(anonymous)} without any cookie too`, 'It is not an authenticated route (or the server answers every path), so the checks that replay cookies there did not run.', 'Give --me an authenticated GET of the API: one that answers 401 without the session.')
              return false
            }
            f.pass('auth-me', `GET ${paths.me} answers the signed-in user (${statusLine(me)}) and refuses an anonymous request (${statusLine(anonymous)})`)
            return true
          })) ?? false
        const second = await step(ctx, 'session fixation', () => probeFixation(ctx, roles, login, creds, meWorks))
        await step(ctx, 'CSRF and Origin', () => probeStateChanging(ctx, a, pre, second, creds))
        await step(ctx, 'CORS', () => probeCors(ctx, a))
        const rotation = await step(ctx, 'refresh rotation', () => probeRefresh(ctx, a, roles))
        if (second) await step(ctx, 'logout', () => probeLogout(ctx, second, roles, meWorks))
        if (rotation) await step(ctx, 'refresh reuse', () => probeReuse(ctx, a, rotation, meWorks))
      }
    }

    await step(ctx, 'the JWKS', async () => {
      const jwks = await fetchJwks(ctx, () => a.clone().send('jwks', 'GET', paths.jwks))
      const access = accessJwt(loginA, roles, a)
      if (access === 'opaque') f.info('jwt-none', `The access cookie (${roles.access.filter((n) => a.jar.get(n)).join(', ')}) is not a JWT: JWT checks do not apply`)
      else if (access) checkJwt(ctx, access.cookie, access.token, jwks)
    })
  } catch (e) {
    if (e instanceof AuditStopped) {
      f.fail('audit-incomplete', `The audit stopped early: ${e.message}`, 'The checks after that point did not run, so this report is not a verdict on them.', 'Re-run when the deployment answers faster; the audit never sends more than its cap.')
    } else {
      // Whatever the deployment answered, the report still prints (and says so), never a stack trace.
      f.fail('audit-incomplete', `The audit stopped early on an answer it could not handle: ${e instanceof Error ? e.message : String(e)}`, 'The checks after that point did not run, so this report is not a verdict on them.', 'Report this to the Bastion maintainers with the deployment\'s answer, if you can share it.')
    }
  }
  return finish(ctx, page, roles)
}

function finish(ctx: AuditContext, page?: Exchange, roles: Roles = identifyRoles(ctx.options, undefined)): Report {
  const log = ctx.client.log
  if (page) {
    checkCookies(ctx, roles)
    checkTokenExposure(ctx, roles)
    const auth = log.filter((e) => ['csrf', 'register', 'login', 'refresh', 'session'].includes(e.label))
    checkHeaders(ctx, page, auth, log.filter((e) => e.label === 'me'))
  }
  const seconds = (ctx.client.elapsedMs() / 1000).toFixed(1)
  const legitimate = ctx.legitimatePosts
  ctx.findings.info('audit-summary', `${ctx.client.requests} requests in ${seconds} s (caps: ${ctx.client.limits.maxRequests} requests, ${ctx.client.limits.totalMs / 1000} s, ${ctx.client.limits.timeoutMs / 1000} s each); --post sent legitimately: ${legitimate} time${legitimate === 1 ? '' : 's'}`)
  const findings = ctx.findings.list.map((finding, i) => ({ finding, i })).sort((x, y) => rank(x.finding) - rank(y.finding) || x.i - y.i).map((x) => x.finding)
  return { target: `bastion audit ${ctx.options.url.href}`, findings }
}
