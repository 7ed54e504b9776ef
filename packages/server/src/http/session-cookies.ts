import type { ResolvedConfig } from '../config.ts'
import { BastionError } from '../errors.ts'
import type { SessionRecord } from '../store.ts'
import { serializeCookie } from './cookies.ts'
import { errorResponse } from './respond.ts'

/** Writes and clears the three browser cookies of a session (access, refresh, CSRF) with their configured names and attributes. */
export interface SessionCookies {
  /** Seconds until a session ends, idle or absolute: the life of its refresh and CSRF cookies. */
  maxAge(session: SessionRecord): number
  setAccess(headers: Headers, token: string): void
  setRefresh(headers: Headers, token: string, session: SessionRecord): void
  setCsrf(headers: Headers, token: string, maxAge: number): void
  clearAll(headers: Headers): void
  /** A 401 `unauthenticated` that also clears the cookies: the browser should sign in again. */
  unauthenticatedClearing(message: string): Response
}

export function sessionCookies(config: ResolvedConfig): SessionCookies {
  const { cookies, now } = config
  const maxAge = (s: SessionRecord) => (Math.min(s.expiresAt, s.refreshExpiresAt) - now()) / 1000
  const clearAll = (h: Headers) => {
    h.append('Set-Cookie', serializeCookie(cookies.access, { value: '', maxAge: 0, httpOnly: true }))
    h.append('Set-Cookie', serializeCookie(cookies.refresh, { value: '', maxAge: 0, httpOnly: true }))
    h.append('Set-Cookie', serializeCookie(cookies.csrf, { value: '', maxAge: 0, httpOnly: false }))
  }
  return {
    maxAge,
    setAccess: (h, token) => h.append('Set-Cookie', serializeCookie(cookies.access, { value: token, maxAge: config.accessTtl, httpOnly: true })),
    setRefresh: (h, token, session) => h.append('Set-Cookie', serializeCookie(cookies.refresh, { value: token, maxAge: maxAge(session), httpOnly: true })),
    setCsrf: (h, token, age) => h.append('Set-Cookie', serializeCookie(cookies.csrf, { value: token, maxAge: age, httpOnly: false })),
    clearAll,
    unauthenticatedClearing(message) {
      const res = errorResponse(new BastionError('unauthenticated', message))
      clearAll(res.headers)
      return res
    },
  }
}
