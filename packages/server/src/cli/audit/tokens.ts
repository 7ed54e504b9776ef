/**
 * Authenticating tokens where a script can read them: a JWT-looking string
 * or a long opaque token in a JSON body (login, refresh, session, me), a
 * value of an authenticating cookie repeated in a body or in a non-cookie
 * header (a custom `X-Access-Token`, an `Authorization` answer, a token in a
 * redirect's URL). The HttpOnly cookie is pointless if the same token is
 * also handed to the page.
 */
import { decodeProtectedHeader } from 'jose'
import { excerpt, type AuditContext } from './context.ts'
import { roleOf, type Roles } from './cookies.ts'
import type { Exchange } from './http.ts'
import { deletes, parseSetCookie } from './jar.ts'

const JWT_RE = /eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){2,4}/g
const CSRFISH = /csrf|xsrf/i
const TOKEN_KEY = /token|jwt|bearer|secret|^access$|^refresh$|^sid$|session_?key/i
const OPAQUE = /^[A-Za-z0-9_\-.~+/=]{16,}$/
/** Headers that are never a token, whatever they look like. */
const NOT_TOKENS = new Set(['set-cookie', 'date', 'etag', 'last-modified', 'content-type', 'content-length', 'vary', 'server', 'connection', 'keep-alive', 'content-security-policy', 'strict-transport-security', 'permissions-policy'])

/** A JWT (JWS or JWE) by shape, confirmed by a header that decodes with an `alg`. */
export function findJwts(text: string): string[] {
  const out: string[] = []
  for (const m of text.matchAll(JWT_RE)) {
    const parts = m[0].split('.').length
    if (parts !== 3 && parts !== 5) continue
    try {
      if (decodeProtectedHeader(m[0]).alg !== undefined) out.push(m[0])
    } catch {
      // not a JWT after all
    }
  }
  return out
}

interface Hit {
  where: string
  what: string
}

/** Every string in a JSON value with its path and the key it sits under, CSRF keys left out (readable by design). */
function strings(value: unknown, path: string, key: string, out: { path: string; key: string; value: string }[]): void {
  if (typeof value === 'string') out.push({ path, key, value })
  else if (Array.isArray(value)) value.forEach((v, i) => strings(v, `${path}[${i}]`, key, out))
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (!CSRFISH.test(k)) strings(v, path ? `${path}.${k}` : k, k, out)
  }
}

function classify(value: string, key: string, secrets: Map<string, string>): string | undefined {
  for (const [secret, cookie] of secrets) if (value.includes(secret)) return `the value of the ${cookie} cookie`
  const jwt = findJwts(value)[0]
  if (jwt) return `a JWT ${excerpt(jwt)}`
  if (TOKEN_KEY.test(key) && OPAQUE.test(value)) return `a token ${excerpt(value)}`
  return undefined
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const ID_KEY = /^(id|.*[a-z]Id|.*_id)$/

/** A long, random-looking string under a key that does not say what it is: maybe a token. */
function suspect(value: string, key: string): boolean {
  if (value.length < 32 || !/^[A-Za-z0-9_\-.~+/=]+$/.test(value) || UUID.test(value) || ID_KEY.test(key)) return false
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(value)).length
  return classes >= 2 && new Set(value).size >= 16
}

function scanBody(e: Exchange, secrets: Map<string, string>, suspects?: Hit[]): Hit[] {
  const hits: Hit[] = []
  if (e.json !== undefined) {
    const found: { path: string; key: string; value: string }[] = []
    strings(e.json, '', '', found)
    for (const s of found) {
      const what = classify(s.value, s.key, secrets)
      if (what) hits.push({ where: `body "${s.path}"`, what })
      else if (suspects && suspect(s.value, s.key)) suspects.push({ where: `body "${s.path}"`, what: `a long opaque string ${excerpt(s.value)}` })
    }
  } else {
    const what = classify(e.text, '', secrets)
    if (what) hits.push({ where: 'body', what })
  }
  return dedupe(hits)
}

function scanHeaders(e: Exchange, secrets: Map<string, string>, csrfHeader: string): Hit[] {
  const hits: Hit[] = []
  e.headers.forEach((value, name) => {
    if (NOT_TOKENS.has(name) || CSRFISH.test(name) || name === csrfHeader.toLowerCase()) return
    for (const [secret, cookie] of secrets) if (value.includes(secret)) hits.push({ where: `header ${name}`, what: `the value of the ${cookie} cookie` })
    for (const jwt of findJwts(value)) hits.push({ where: `header ${name}`, what: `a JWT ${excerpt(jwt)}` })
    if (/token|jwt|auth/i.test(name) && name !== 'www-authenticate' && OPAQUE.test(value.replace(/^Bearer\s+/i, ''))) hits.push({ where: `header ${name}`, what: `a token ${excerpt(value)}` })
  })
  return dedupe(hits)
}

function dedupe(hits: Hit[]): Hit[] {
  const seen = new Set<string>()
  return hits.filter((h) => {
    const key = h.where
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** Labels of the exchanges whose bodies must not carry a token: the auth answers and the API's "who am I". */
const SCANNED = /^(register|login|refresh|session|me|csrf)$/

export function checkTokenExposure(ctx: AuditContext, roles: Roles): void {
  const f = ctx.findings
  // Every value an authenticating cookie took during the run.
  const secrets = new Map<string, string>()
  for (const e of ctx.client.log) {
    for (const raw of e.setCookies) {
      const c = parseSetCookie(raw)
      if (c && !deletes(c, e.at) && c.value.length >= 16 && roleOf(roles, c.name) !== 'csrf' && roleOf(roles, c.name) !== 'other') secrets.set(c.value, c.name)
    }
  }
  const scanned = ctx.client.log.filter((e) => SCANNED.test(e.label))
  let clean = true
  for (const e of scanned) {
    const suspects: Hit[] = []
    const body = scanBody(e, secrets, /^(login|refresh)$/.test(e.label) ? suspects : undefined)
    if (suspects.length) {
      f.warn('token-in-body-suspect', `${e.method} ${e.url.pathname} returns a long opaque string that may be a token`, `${suspects.map((h) => `${h.where}: ${h.what}`).join('; ')}. It matches no cookie the audit saw, but long random values in a login or refresh answer are usually credentials.`, 'If it authenticates anything, keep it in an HttpOnly cookie instead; if it is an identifier, name its key "…Id" (or ignore this warning).')
    }
    if (body.length) {
      clean = false
      f.fail('token-in-body', `${e.method} ${e.url.pathname} returns a token to the page's JavaScript`, `${body.map((h) => `${h.where}: ${h.what}`).join('; ')}. Whatever reads the body (an XSS, a browser extension, a log of responses) holds the session, HttpOnly or not.`, 'Keep access and refresh tokens in HttpOnly cookies only; answer with the user and session metadata (ids, expiry), never the tokens.')
    }
    const headers = scanHeaders(e, secrets, ctx.options.csrf.header)
    if (headers.length) {
      clean = false
      f.fail('token-in-header', `${e.method} ${e.url.pathname} returns a token in a response header`, `${headers.map((h) => `${h.where}: ${h.what}`).join('; ')}. A script reads any header CORS exposes (and every header of a same-origin answer).`, 'Send tokens to a browser only as HttpOnly cookies, never in a custom header or a URL.')
    }
  }
  if (clean && scanned.length) {
    f.pass('token-exposure', `No token in the bodies or headers of ${[...new Set(scanned.map((e) => e.url.pathname))].join(', ')}`)
  }
}
