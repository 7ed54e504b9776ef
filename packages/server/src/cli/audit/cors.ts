/**
 * CORS reflection: a foreign Origin (and `Origin: null`) on the API and auth
 * routes, with the session's cookies, and a preflight for the
 * state-changing request, must not be answered with
 * `Access-Control-Allow-Origin` equal to it and `Allow-Credentials: true`:
 * that lets the other site read the user's data and the CSRF token, and send
 * anything.
 */
import type { AuditContext, Browser } from './context.ts'
import type { Exchange } from './http.ts'

interface Probe {
  label: string
  method: 'GET' | 'OPTIONS'
  path: string
  origin: string
}

export async function probeCors(ctx: AuditContext, a: Browser): Promise<void> {
  const f = ctx.findings
  const { me, session, post, login } = ctx.options.paths
  const foreign = ctx.options.originForeign
  const probes: Probe[] = [
    { label: 'cors-api', method: 'GET', path: me, origin: foreign },
    { label: 'cors-auth', method: 'GET', path: session, origin: foreign },
    { label: 'cors-preflight', method: 'OPTIONS', path: post ?? login, origin: foreign },
    { label: 'cors-null', method: 'GET', path: me, origin: 'null' },
  ]
  const clean: string[] = []
  for (const p of probes) {
    const headers: Record<string, string> =
      p.method === 'OPTIONS' ? { 'access-control-request-method': 'POST', 'access-control-request-headers': `content-type, ${ctx.options.csrf.header.toLowerCase()}` } : {}
    const e: Exchange = await a.clone().send(p.label, p.method, p.path, { origin: p.origin, site: 'cross-site', headers })
    const allowOrigin = e.headers.get('access-control-allow-origin')
    const credentials = e.headers.get('access-control-allow-credentials')?.trim().toLowerCase() === 'true'
    const what = `${p.method === 'OPTIONS' ? 'preflight ' : ''}${p.method} ${p.path} from Origin: ${p.origin}`
    if (allowOrigin === p.origin && credentials) {
      const extra = p.method === 'OPTIONS' ? ` Allowed: methods ${e.headers.get('access-control-allow-methods') ?? '-'}, headers ${e.headers.get('access-control-allow-headers') ?? '-'}.` : ''
      f.fail(p.origin === 'null' ? 'cors-null-reflected' : 'cors-reflected', `CORS lets ${p.origin} in with credentials (${what})`, `Access-Control-Allow-Origin: ${allowOrigin} with Access-Control-Allow-Credentials: true.${extra} That site's scripts read the signed-in user's answers (and the CSRF token), so neither the cookie flags nor the CSRF token protect anything.`, 'Answer CORS only for an exact allow-list of your own SPA origins, never by reflecting the Origin header (and never for "null").')
    } else if (allowOrigin === '*' && p.method === 'GET' && e.status >= 200 && e.status < 300) {
      f.warn('cors-wildcard', `Access-Control-Allow-Origin: * on an authenticated route (${what})`, 'Browsers do not send cookies with a wildcard, so this leaks only what an anonymous request gets; still, any site may read it.', 'Drop the wildcard from authenticated routes; use the allow-list of SPA origins.')
    } else if (allowOrigin === p.origin) {
      f.info('cors-allowed-without-credentials', `${p.origin} is allowed without credentials (${what})`, 'Without Allow-Credentials the browser sends no cookies, so nothing of the user leaks; reflecting Origin is still a habit to drop.')
    } else {
      clean.push(what)
    }
  }
  if (clean.length === probes.length) f.pass('cors-reflection', `No CORS for a foreign or null Origin on ${[...new Set(probes.map((p) => p.path))].join(', ')} (preflight included)`)
}
