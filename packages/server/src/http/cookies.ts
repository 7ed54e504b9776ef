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
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const name = part.slice(0, eq).trim()
    let value = part.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (!name) continue
    const values = jar.get(name)
    if (values) values.push(value)
    else jar.set(name, [value])
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
