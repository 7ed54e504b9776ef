/**
 * Transport and security headers: TLS itself, HSTS over TLS, a CSP and
 * framing protection on the page, `X-Content-Type-Options: nosniff`, and
 * `Cache-Control: no-store` on every answer that carries identity.
 */
import type { AuditContext } from './context.ts'
import { accepted, type Exchange } from './http.ts'

const LOOPBACK = /^(localhost|127(\.\d+){3}|\[::1\])$|\.localhost$/

export const isLoopback = (url: URL): boolean => LOOPBACK.test(url.hostname)

export function checkTransport(ctx: AuditContext): void {
  const url = ctx.options.url
  if (url.protocol === 'https:') ctx.findings.pass('tls', 'Served over HTTPS')
  else if (isLoopback(url)) ctx.findings.info('tls-loopback', 'Plain HTTP on a loopback host (fine for development; browsers accept Secure cookies on localhost)')
  else ctx.findings.fail('tls-missing', `Served over plain HTTP on ${url.host}`, 'Every cookie and password crosses the network in the clear; browsers also drop Secure and __Host- cookies on plain HTTP outside localhost.', 'Serve the deployment over HTTPS only (a TLS proxy in front; Bastion: BASTION_PUBLIC_ORIGIN=https://… and BASTION_TRUST_PROXY=1), and redirect HTTP to it.')
}

function directives(csp: string): Map<string, string[]> {
  const map = new Map<string, string[]>()
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/)
    if (name && !map.has(name.toLowerCase())) map.set(name.toLowerCase(), values)
  }
  return map
}

const where = (e: Exchange) => `${e.method} ${e.url.pathname}`

/**
 * `page`: the audited URL's answer (CSP and framing apply to HTML); `auth`:
 * the auth endpoints' successful answers; `api`: the authenticated API GET.
 */
export function checkHeaders(ctx: AuditContext, page: Exchange | undefined, auth: Exchange[], api: Exchange[]): void {
  const f = ctx.findings
  const tls = ctx.options.url.protocol === 'https:'

  // HSTS, where browsers honour it. It is per host: the page every visit starts from is where it must be
  // (the login answer stands in when the audited URL is no page).
  const hstsTarget = page && page.status < 300 ? page : auth.find((e) => e.label === 'login' && accepted(e))
  if (!tls) {
    f.info('header-hsts', 'Strict-Transport-Security not checked: plain HTTP (browsers ignore it there)')
  } else if (hstsTarget) {
    const hsts = hstsTarget.headers.get('strict-transport-security')
    const maxAge = Number(/max-age\s*=\s*"?(\d+)/i.exec(hsts ?? '')?.[1] ?? 0)
    if (!hsts) {
      f.fail('header-hsts-missing', `No Strict-Transport-Security on ${where(hstsTarget)}`, 'A first visit by http:// (a typed URL, an old link) can be intercepted and kept on plain HTTP, cookies and all.', 'Send Strict-Transport-Security: max-age=31536000; includeSubDomains on every HTTPS answer.')
    } else if (maxAge < 15_552_000 && !isLoopback(ctx.options.url)) {
      f.warn('header-hsts-short', `Strict-Transport-Security max-age=${maxAge} (under 180 days)`, 'A browser that has not visited for longer than max-age is unprotected again.', 'Use max-age=31536000 (a year) once HTTPS is settled.')
    } else {
      f.pass('header-hsts', `Strict-Transport-Security: ${hsts}`)
    }
  }

  // CSP and framing: the page.
  const html = page !== undefined && /text\/html/i.test(page.headers.get('content-type') ?? '')
  if (page && !html) {
    f.info('header-page-not-html', `${where(page)} answered ${page.status} ${page.headers.get('content-type') ?? 'without a content type'}: the CSP and framing checks need the HTML page (give its URL)`)
  } else if (page) {
    const cspHeader = page.headers.get('content-security-policy')
    const csp = directives(cspHeader ?? '')
    if (!cspHeader) {
      const reportOnly = page.headers.get('content-security-policy-report-only')
      f.fail('header-csp-missing', `No Content-Security-Policy on the page${reportOnly ? ' (only Report-Only, which enforces nothing)' : ''}`, 'The session cookies are HttpOnly, but an injected script still acts as the user from inside the page; a CSP is what stops it from running.', "Send Content-Security-Policy: default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none' (and no 'unsafe-inline').")
    } else {
      const scripts = csp.get('script-src') ?? csp.get('default-src')
      const weak = scripts === undefined ? ['no script-src or default-src'] : scripts.filter((v) => /^'unsafe-(inline|eval)'$|^\*$|^https?:$|^data:$/i.test(v))
      // 'unsafe-inline' is ignored by browsers once a nonce, hash or 'strict-dynamic' is present.
      const neutralised = scripts?.some((v) => /^'(nonce-|sha(256|384|512)-|strict-dynamic)/i.test(v)) ?? false
      const real = weak.filter((v) => !(neutralised && /unsafe-inline/i.test(v)))
      if (real.length) f.warn('header-csp-weak', `The CSP lets scripts in: ${real.join(' ')}`, `Content-Security-Policy: ${cspHeader.slice(0, 200)}`, "Allow only 'self' (or nonces/hashes) in script-src; drop 'unsafe-inline', 'unsafe-eval', wildcards and schemes.")
      else f.pass('header-csp', `Content-Security-Policy with script-src ${(scripts ?? []).join(' ')}`)
    }
    const ancestors = csp.get('frame-ancestors')
    const xfo = page.headers.get('x-frame-options')?.trim().toUpperCase()
    if (ancestors && ancestors.some((v) => v === '*' || /^https?:$/i.test(v))) {
      f.fail('header-frame-missing', `frame-ancestors ${ancestors.join(' ')}: any site may frame the page`, 'A page that may be framed can be clickjacked: an invisible frame over a button on another site.', "Use frame-ancestors 'none' (or 'self'), and X-Frame-Options: DENY for old browsers.")
    } else if (ancestors || xfo === 'DENY' || xfo === 'SAMEORIGIN') {
      f.pass('header-frame', `Framing refused (${[ancestors ? `frame-ancestors ${ancestors.join(' ')}` : '', xfo ? `X-Frame-Options: ${xfo}` : ''].filter(Boolean).join(', ')})`)
    } else {
      f.fail('header-frame-missing', 'The page may be framed by any site (no frame-ancestors, no X-Frame-Options)', 'Clickjacking: another site overlays the signed-in page in an invisible frame and makes the user click its buttons (a transfer, a settings change).', "Send Content-Security-Policy: frame-ancestors 'none' and X-Frame-Options: DENY.")
    }
  }

  // nosniff: a must on the page and the auth answers; on JSON API answers with a correct type, advice.
  const nosniffRequired = [page, ...auth.filter(accepted)].filter((e): e is Exchange => e !== undefined)
  const noSniff = (e: Exchange) => e.headers.get('x-content-type-options')?.trim().toLowerCase() !== 'nosniff'
  const missingRequired = nosniffRequired.filter(noSniff)
  const missingApi = api.filter(accepted).filter(noSniff)
  if (missingRequired.length) {
    f.fail('header-nosniff-missing', `No X-Content-Type-Options: nosniff on ${missingRequired.map(where).join(', ')}`, 'A browser may sniff the answer as HTML or script and run it in this origin.', 'Send X-Content-Type-Options: nosniff on every answer.')
  }
  if (missingApi.length) {
    const typed = missingApi.every((e) => /json/i.test(e.headers.get('content-type') ?? ''))
    ;(typed ? f.warn : f.fail).call(f, 'header-nosniff-missing', `No X-Content-Type-Options: nosniff on ${missingApi.map(where).join(', ')}`, typed ? 'The answer is typed JSON, so the risk is small, but without nosniff an old browser may still sniff it, and cross-origin script inclusion is not blocked by type.' : 'Without a JSON content type and nosniff the browser may sniff the answer as HTML or script.', 'Send X-Content-Type-Options: nosniff on every answer (API answers included).')
  }
  const checked = [...nosniffRequired, ...api.filter(accepted)].filter((e) => !noSniff(e))
  if (checked.length) f.pass('header-nosniff', `X-Content-Type-Options: nosniff on ${checked.map(where).join(', ')}`)

  // no-store on what carries identity.
  const noStore = (e: Exchange) => /\bno-store\b/i.test(e.headers.get('cache-control') ?? '')
  const authSuccess = auth.filter(accepted)
  const authCached = authSuccess.filter((e) => !noStore(e))
  if (authCached.length) {
    f.fail('header-no-store-missing', `No Cache-Control: no-store on ${authCached.map(where).join(', ')}`, `Cache-Control: ${authCached[0]!.headers.get('cache-control') ?? '(none)'}. A shared cache or the browser's back button may keep and serve an answer that carries the session and the user.`, 'Send Cache-Control: no-store on every auth answer (and on every answer that carries identity).')
  }
  const apiCached = api.filter(accepted).filter((e) => !noStore(e) && !/\bprivate\b/i.test(e.headers.get('cache-control') ?? ''))
  if (apiCached.length) {
    f.warn('header-no-store-missing', `No Cache-Control: no-store (or private) on ${apiCached.map(where).join(', ')}`, `Cache-Control: ${apiCached[0]!.headers.get('cache-control') ?? '(none)'}. A shared cache may serve one user's data to another.`, 'Send Cache-Control: no-store (or at least private) on authenticated API answers.')
  }
  const stored = [...authSuccess, ...api.filter(accepted)].filter(noStore)
  if (stored.length) f.pass('header-no-store', `Cache-Control: no-store on ${stored.map(where).join(', ')}`)
}
