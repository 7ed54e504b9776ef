/**
 * What a live deployment says about its cookies, from unauthenticated
 * requests only: `GET <csrf path>` (a pre-session and its CSRF cookie), the
 * same with each allowed SPA origin (CORS), and `POST <base>/logout` with
 * that pre-session from the URL's own origin (no session is ended: there is
 * none), whose answer clears, and so shows, all three cookies and proves
 * whether the server recognises its own origin behind a proxy.
 */
import type { Finding } from '../report.ts'
import { SAFARI, type ConfigView } from './config-checks.ts'
import { analyseCookies, parseSetCookie, type CookieRole, type ObservedCookie, type SetCookie } from './set-cookie.ts'
import { differentLoopbackSites, isLoopback } from './site.ts'
import { readCapped } from '../read-capped.ts'

export interface LiveOptions {
  url: URL
  /** Path of the CSRF endpoint, e.g. `/auth/csrf`; the other auth endpoints are its siblings. */
  csrfPath: string
  timeoutMs: number
  view: ConfigView
}

export interface LiveResult {
  findings: Finding[]
  /** Whether the server let in a state-changing request from the URL's own origin (null: not probed). */
  ownOriginAccepted: boolean | null
}

/** Largest body read from any answer: doctor needs a small JSON object, not whatever a misrouted URL serves. */
const MAX_BODY = 64 * 1024
/** Beyond this, tokens issued by one look expired or not yet valid to the other. */
export const MAX_SKEW_MS = 30_000
/** Allowed origins probed for CORS at most (each is one request). */
const MAX_CORS_PROBES = 10

interface Answer {
  status: number
  headers: Headers
  text: string
  json: unknown
  sentAt: number
  receivedAt: number
}

async function send(url: URL, init: RequestInit, timeoutMs: number): Promise<Answer> {
  const sentAt = Date.now()
  // One signal for the whole exchange: headers and body both arrive within the timeout, or it aborts.
  const response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) })
  const text = await readCapped(response, MAX_BODY)
  const receivedAt = Date.now()
  let json: unknown
  if (/\bjson\b/i.test(response.headers.get('content-type') ?? '')) {
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
  }
  return { status: response.status, headers: response.headers, text, json, sentAt, receivedAt }
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_NOT_YET_VALID',
])

/** A network failure as one sentence and its fix, never a stack trace. */
export function describeFailure(e: unknown, url: URL, timeoutMs: number): { detail: string; fix: string } {
  const err = e as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } }
  const seconds = `${timeoutMs / 1000} s`
  if (err.name === 'TimeoutError' || err.name === 'AbortError') {
    return { detail: `No complete answer within ${seconds}.`, fix: `Check that the server is up and that nothing (firewall, proxy) holds the connection at ${url.host}.` }
  }
  const code = typeof err.cause?.code === 'string' ? err.cause.code : undefined
  const causeMessage = typeof err.cause?.message === 'string' ? err.cause.message : typeof err.message === 'string' ? err.message : String(e)
  if (code === 'ECONNREFUSED') return { detail: `Connection refused: nothing listens on ${url.host}.`, fix: 'Start the server, or pass the URL it listens on (it logs it when ready).' }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { detail: `The name ${url.hostname} does not resolve (${code}).`, fix: 'Check the host name and DNS.' }
  if (code && TLS_CODES.has(code)) {
    return {
      detail: `The TLS certificate is not trusted (${code}: ${causeMessage}). Browsers refuse the page, or make every user click through a warning.`,
      fix: 'Serve a certificate for this name from a trusted CA (e.g. Let\'s Encrypt). For the demo\'s self-signed localhost certificate, run doctor with NODE_EXTRA_CA_CERTS=data/tls/localhost.pem.',
    }
  }
  return { detail: `The request failed: ${code ? `${code}: ` : ''}${causeMessage}`, fix: `Check that ${url.origin} is the server's address and that it is up.` }
}

const errorCode = (json: unknown): string | undefined => {
  const error = (json as { error?: { code?: unknown } } | undefined)?.error
  return typeof error?.code === 'string' ? error.code : undefined
}

const errorMessage = (json: unknown): string | undefined => {
  const error = (json as { error?: { message?: unknown } } | undefined)?.error
  return typeof error?.message === 'string' ? error.message.slice(0, 200) : undefined
}

const csrfTokenOf = (json: unknown): string | undefined => {
  const token = (json as { csrfToken?: unknown } | undefined)?.csrfToken
  return typeof token === 'string' && token.length > 0 ? token : undefined
}

function clockFindings(answer: Answer): { findings: Finding[]; serverNow: number | undefined } {
  const date = answer.headers.get('date')
  const at = date ? Date.parse(date) : NaN
  if (Number.isNaN(at)) {
    return { findings: [{ id: 'clock-no-date', severity: 'info', title: 'The server sends no Date header: its clock was not compared' }], serverNow: undefined }
  }
  // Date has whole seconds: the server's time lies in [at, at + 1 s); compare with the middle of the exchange.
  const skew = at + 500 - (answer.sentAt + answer.receivedAt) / 2
  const abs = Math.abs(skew)
  const amount = abs >= 120_000 ? `${Math.round(abs / 60_000)} min` : `${Math.round(abs / 1000)} s`
  if (abs > MAX_SKEW_MS) {
    return {
      serverNow: at,
      findings: [{
        id: 'clock-skew',
        severity: 'fail',
        title: `The server's clock is ${amount} ${skew > 0 ? 'ahead of' : 'behind'} this machine's`,
        detail: `Date: ${date}. Access tokens carry iat/exp in the server's time: to services and clients on the other clock they look ${skew > 0 ? 'not yet valid' : 'already expired'}, and DPoP proofs (iat within 60 s) are refused.`,
        fix: 'Synchronise both clocks with NTP (chrony, systemd-timesyncd).',
      }],
    }
  }
  return { serverNow: at, findings: [{ id: 'clock', severity: 'pass', title: `The server's clock agrees with this machine's (within ${Math.max(1, Math.round(abs / 1000))} s)` }] }
}

const isDeleting = (c: SetCookie, serverNow: number | undefined): boolean =>
  (c.maxAge !== undefined && c.maxAge <= 0) || (c.maxAge === undefined && c.expires !== undefined && c.expires <= (serverNow ?? Date.now()))

export async function checkLive(options: LiveOptions): Promise<LiveResult> {
  const { url, csrfPath, timeoutMs, view } = options
  const findings: Finding[] = []
  const origin = url.origin
  const base = csrfPath.replace(/\/[^/]*$/, '')
  const names = view.cookieNames
  const roleByName = (name: string): CookieRole =>
    name === names.access ? 'access' : name === names.refresh ? 'refresh' : name === names.csrf ? 'csrf' : 'other'

  // ---- GET <csrf path> ------------------------------------------------------
  const csrfUrl = new URL(csrfPath, origin)
  let first: Answer
  try {
    first = await send(csrfUrl, { headers: { Accept: 'application/json' } }, timeoutMs)
  } catch (e) {
    findings.push({ id: 'live-unreachable', severity: 'fail', title: `GET ${csrfUrl.href} got no answer`, ...describeFailure(e, url, timeoutMs) })
    findings.push(...checkUrlAgainstConfig(url, view, null))
    return { findings, ownOriginAccepted: null }
  }
  findings.push({ id: 'live-reachable', severity: 'pass', title: `${origin} answers (GET ${csrfPath}: ${first.status})` })
  const clock = clockFindings(first)
  findings.push(...clock.findings)

  const token = csrfTokenOf(first.json)
  if (first.status === 200 && token) {
    findings.push({ id: 'csrf-endpoint', severity: 'pass', title: `GET ${csrfPath} answers JSON with a csrfToken` })
  } else {
    const location = first.headers.get('location')
    const type = first.headers.get('content-type') ?? 'no Content-Type'
    let detail: string
    let fix: string
    if (first.status >= 300 && first.status < 400) {
      const target = location ? new URL(location, csrfUrl) : null
      detail = `It redirects (${first.status}) to ${location ?? '(no Location)'}; the SPA's fetch of the CSRF token would follow that, or fail on it.`
      fix = target && target.origin !== origin ? `Run doctor --url ${target.origin}, the address the server sends browsers to.` : 'Serve the CSRF endpoint directly, without a redirect.'
    } else if (first.status === 404) {
      detail = `It answers 404 (${type}).`
      fix = 'Pass the right path with --csrf-path (the server\'s basePath + /csrf), or check that the proxy forwards it to Bastion.'
    } else {
      const snippet = first.text.slice(0, 80).replace(/\s+/g, ' ')
      detail = `It answers ${first.status} with ${type}${snippet ? `: "${snippet}"` : ''}, not {"csrfToken": "…"}: the SPA cannot start a login.`
      fix = 'Check that the URL reaches Bastion and not another app, an error page or a login wall of the proxy; pass --csrf-path if the auth endpoints live elsewhere.'
    }
    findings.push({ id: 'csrf-endpoint-not-json', severity: 'fail', title: `GET ${csrfPath} does not answer the CSRF token as JSON`, detail, fix })
  }

  // ---- origin-level: does the browser keep Secure cookies at this URL? ---------
  if (url.protocol === 'https:') {
    findings.push({ id: 'cookie-secure-context', severity: 'pass', title: `${origin} is https: browsers keep its Secure cookies` })
  } else if (isLoopback(url.hostname)) {
    findings.push({ id: 'cookie-secure-context', severity: 'pass', title: `${origin} is loopback: Chromium and Firefox keep Secure cookies there` })
    findings.push({ ...SAFARI, detail: `${SAFARI.detail} (${origin})` })
  }

  // ---- the cookies it sets ---------------------------------------------------------
  const observed: ObservedCookie[] = []
  const firstCookies = first.headers.getSetCookie().map(parseSetCookie)
  let csrfCookie = firstCookies.find((c) => c.name === names.csrf)
  // A server with other cookie names (set in code): the one cookie the CSRF endpoint sets is the CSRF cookie.
  if (!csrfCookie && token && firstCookies.length === 1) csrfCookie = firstCookies[0]
  for (const c of firstCookies) {
    observed.push({ cookie: c, role: c === csrfCookie ? 'csrf' : roleByName(c.name), requestUrl: csrfUrl, deleting: false, seenAt: `GET ${csrfPath}`, serverNow: clock.serverNow })
  }
  if (token && !csrfCookie) {
    findings.push({
      id: 'csrf-cookie-missing',
      severity: 'fail',
      title: `GET ${csrfPath} sets no ${names.csrf} cookie`,
      detail: `The token in the body is checked against the cookie: without it every login is refused 403 csrf_failed. Cookies set: ${firstCookies.map((c) => c.name).join(', ') || 'none'}.`,
      fix: 'Check that no proxy or CDN strips Set-Cookie from the auth endpoints (and that they are not cached).',
    })
  }

  // ---- CORS for each allowed SPA origin -----------------------------------------------
  if (token) {
    const probes = view.allowedOrigins.filter((o) => o.origin !== origin).slice(0, MAX_CORS_PROBES)
    const results = await Promise.all(
      probes.map(async (spa) => {
        try {
          return { spa, answer: await send(csrfUrl, { headers: { Accept: 'application/json', Origin: spa.origin } }, timeoutMs) }
        } catch (e) {
          return { spa, error: describeFailure(e, url, timeoutMs) }
        }
      }),
    )
    for (const r of results) {
      if (!r.answer) {
        findings.push({ id: 'cors-allowed-origin-refused', severity: 'fail', title: `GET ${csrfPath} with Origin ${r.spa.origin} got no answer`, ...r.error! })
        continue
      }
      const allow = r.answer.headers.get('access-control-allow-origin')
      const credentials = r.answer.headers.get('access-control-allow-credentials')
      if (allow === r.spa.origin && credentials === 'true') {
        findings.push({ id: 'cors-allowed-origin', severity: 'pass', title: `${r.spa.origin} may call with credentials (CORS)` })
      } else {
        findings.push({
          id: 'cors-allowed-origin-refused',
          severity: 'fail',
          title: `The server does not let ${r.spa.origin} call with credentials`,
          detail: `Asked with Origin: ${r.spa.origin}, it answered Access-Control-Allow-Origin: ${allow ?? '(none)'}, Access-Control-Allow-Credentials: ${credentials ?? '(none)'}${allow === '*' ? ' (a wildcard never allows credentials)' : ''}. The browser hides every answer from that SPA.`,
          fix: `Add ${r.spa.origin} to BASTION_ALLOWED_ORIGINS on the server (doctor read it from this environment, the server's differs), and check that no proxy strips or rewrites the CORS headers.`,
        })
      }
    }
  }

  // ---- POST <base>/logout from the URL's own origin --------------------------------
  let ownOriginAccepted: boolean | null = null
  if (token && csrfCookie) {
    const logoutPath = `${base}/logout`
    const logoutUrl = new URL(logoutPath, origin)
    const headers: Record<string, string> = {
      Origin: origin,
      'Sec-Fetch-Site': 'same-origin',
      [view.resolved?.csrfHeader ?? 'X-CSRF-Token']: token,
      Cookie: firstCookies.map((c) => `${c.name}=${c.value}`).join('; '),
    }
    const post = (extra: Record<string, string> = {}) => send(logoutUrl, { method: 'POST', headers: { ...headers, ...extra } }, timeoutMs)
    try {
      const answer = await post()
      const code = errorCode(answer.json)
      if (answer.status >= 200 && answer.status < 300) {
        ownOriginAccepted = true
        findings.push({ id: 'own-origin-accepted', severity: 'pass', title: `The server accepts state-changing requests from its own origin ${origin} (POST ${logoutPath}: ${answer.status})` })
        for (const c of answer.headers.getSetCookie().map(parseSetCookie)) {
          const role = c.name === csrfCookie.name ? 'csrf' : roleByName(c.name)
          observed.push({ cookie: c, role, requestUrl: logoutUrl, deleting: isDeleting(c, clock.serverNow), seenAt: `POST ${logoutPath}`, serverNow: clock.serverNow })
        }
      } else if (answer.status === 403 && code === 'forbidden_origin') {
        ownOriginAccepted = false
        const proto = url.protocol.slice(0, -1)
        let forwarded = false
        try {
          const retry = await post({ 'X-Forwarded-Proto': proto, 'X-Forwarded-Host': url.host })
          forwarded = retry.status >= 200 && retry.status < 300
        } catch {
          forwarded = false
        }
        const elsewhere = view.publicOrigin !== null && view.publicOrigin.origin !== origin
        findings.push({
          id: 'own-origin-refused',
          severity: elsewhere ? 'warn' : 'fail',
          title: `The server refuses its own origin ${origin}: every login, refresh and logout from a page there fails`,
          detail:
            `POST ${logoutPath} with Origin: ${origin} and Sec-Fetch-Site: same-origin answered 403 forbidden_origin` +
            `${errorMessage(answer.json) ? ` ("${errorMessage(answer.json)}")` : ''}: ` +
            'the server takes its origin from what it sees (an upstream Host, http from the proxy), not from the address in the browser.' +
            (forwarded ? ` The same request with X-Forwarded-Proto: ${proto} and X-Forwarded-Host: ${url.host} was accepted: the server trusts those headers, but the proxy in front does not set them.` : '') +
            (elsewhere ? ` (This environment says browsers use ${view.publicOrigin!.origin}; run doctor --url ${view.publicOrigin!.origin}.)` : ''),
          fix: forwarded
            ? 'Make the proxy set X-Forwarded-Proto and X-Forwarded-Host (nginx: proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $host), or set BASTION_PUBLIC_ORIGIN on the server.'
            : `Set BASTION_PUBLIC_ORIGIN=${origin} on the server, and BASTION_TRUST_PROXY=1 when a proxy is in front (so client addresses come from X-Forwarded-For).`,
        })
      } else {
        findings.push({
          id: 'own-origin-unchecked',
          severity: 'info',
          title: `Could not check that the server accepts its own origin (POST ${logoutPath}: ${answer.status}${code ? ` ${code}` : ''})`,
        })
      }
    } catch (e) {
      findings.push({ id: 'own-origin-unchecked', severity: 'info', title: `Could not check that the server accepts its own origin: ${describeFailure(e, url, timeoutMs).detail}` })
    }
  }

  findings.push(...analyseCookies(observed, { transport: true, refreshPath: `${base}/refresh` }))
  findings.push(...checkUrlAgainstConfig(url, view, ownOriginAccepted))
  return { findings, ownOriginAccepted }
}

/** The URL against the environment read: a proxy the configuration does not know of, or another loopback host. */
export function checkUrlAgainstConfig(url: URL, view: ConfigView, ownOriginAccepted: boolean | null): Finding[] {
  const out: Finding[] = []
  if (!view.options) return out
  const pub = view.publicOrigin
  if (url.protocol === 'https:' && !view.https && !view.trustProxy && (!pub || pub.protocol === 'http:')) {
    out.push({
      id: 'proxy-not-trusted',
      severity: ownOriginAccepted ? 'warn' : 'fail',
      title: `${url.origin} is https, but this environment ${pub ? `says BASTION_PUBLIC_ORIGIN=${pub.origin}` : 'sets neither BASTION_PUBLIC_ORIGIN nor BASTION_TRUST_PROXY'}`,
      detail: ownOriginAccepted
        ? 'The live server accepts its own origin anyway, so its environment differs from the one doctor read: check that both are what you deploy.'
        : 'So a TLS proxy is in front, and the server sees plain http from it: the https:// Origin browsers send does not match what it takes as its own, and every login is refused 403 forbidden_origin.',
      fix: `Set BASTION_PUBLIC_ORIGIN=${url.origin} and BASTION_TRUST_PROXY=1 on the server.`,
    })
  }
  if (pub && pub.origin !== url.origin) {
    if (differentLoopbackSites(pub, url)) {
      out.push({
        id: 'localhost-vs-127',
        severity: 'fail',
        title: `BASTION_PUBLIC_ORIGIN is ${pub.origin} but the server is reached at ${url.origin}`,
        detail: `Browsers treat ${pub.hostname} and ${url.hostname} as different sites: cookies set on one are not sent to the other, and the Origin check refuses a page on ${url.hostname}.`,
        fix: `Use one host name everywhere: open ${pub.origin}, or set BASTION_PUBLIC_ORIGIN=${url.origin}.`,
      })
    } else {
      out.push({
        id: 'url-not-public-origin',
        severity: 'info',
        title: `Checked ${url.origin}; this environment says browsers use ${pub.origin}`,
        detail: `Run doctor --url ${pub.origin} to see what browsers see.`,
      })
    }
  }
  return out
}
