import type { CookieOptions } from '../config.ts'

/** Cookie header larger than this is refused outright (browsers send at most ~8 KB). */
export const MAX_COOKIE_HEADER = 8192

/**
 * All values per name, so a name sent twice (a cookie tossed in from a parent
 * domain next to ours) is seen as two values, never silently collapsed.
 */
export function parseCookies(header: string | null): Map<string, string[]> {
  const jar = new Map<string, string[]>()
  if (!header) return jar
  // One pass with indexOf instead of split(';') and a string per part: this runs on every
  // guarded request. Same result as splitting on ';', each part cut at its first '='.
  const len = header.length
  let eq = header.indexOf('=')
  let start = 0
  while (eq >= 0 && start < len) {
    let end = header.indexOf(';', start)
    if (end < 0) end = len
    if (eq < start) eq = header.indexOf('=', start)
    if (eq < 0) break // no '=' left: no more cookies (and no rescanning: linear in the header)
    if (eq < end) {
      const name = header.slice(start, eq).trim()
      let value = header.slice(eq + 1, end).trim()
      if (value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) value = value.slice(1, -1)
      if (name) {
        const values = jar.get(name)
        if (values) values.push(value)
        else jar.set(name, [value])
      }
    }
    start = end + 1
  }
  return jar
}

export interface SetCookieInput {
  value: string
  /** Seconds; 0 deletes the cookie. */
  maxAge: number
  httpOnly: boolean
}

export function serializeCookie(cookie: CookieOptions, input: SetCookieInput): string {
  const parts = [`${cookie.name}=${input.value}`, `Max-Age=${Math.max(0, Math.floor(input.maxAge))}`, `Path=${cookie.path}`]
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`)
  // Secure always: __Host-/__Secure- require it, and Chromium and Firefox accept it on http://localhost.
  parts.push('Secure')
  if (input.httpOnly) parts.push('HttpOnly')
  parts.push(`SameSite=${cookie.sameSite}`)
  if (input.maxAge <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT')
  return parts.join('; ')
}
