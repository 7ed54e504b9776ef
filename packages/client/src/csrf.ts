/**
 * Where the CSRF token comes from. Same-origin pages read the cookie at
 * request time (the server rotates it at login/logout); cross-origin pages
 * cannot read the API's cookie, so they use the last token a response body
 * carried, fetching one when none is known.
 */

import { readJson } from './http.ts'

export interface CsrfSource {
  /** The token to send; `fresh` forces a new GET of the token endpoint. */
  token(fresh?: boolean): Promise<string>
  /** Keeps a token from a response body (login, refresh); ignores undefined. */
  remember(token: string | undefined): void
  /** Drops the body token (the session it was bound to is gone). */
  forget(): void
}

export function createCsrf(
  fetchImpl: typeof fetch,
  url: string,
  cookie: string,
  readCookie: ((name: string) => string | undefined) | undefined,
): CsrfSource {
  let last: string | undefined
  // Concurrent requests without a token share one GET.
  let pending: Promise<string> | undefined

  const fetchToken = (): Promise<string> =>
    (pending ??= fetchImpl(url, { credentials: 'include' })
      .then((res) => readJson<{ csrfToken?: string }>(res))
      .then((body) => (last = body?.csrfToken || readCookie?.(cookie) || ''))
      .finally(() => (pending = undefined)))

  return {
    token: async (fresh) => (!fresh && (readCookie?.(cookie) || last)) || fetchToken(),
    remember(token) {
      if (token) last = token
    },
    forget() {
      last = undefined
    },
  }
}

/** Default cookie reader for same-origin pages. */
export function documentCookie(name: string): string | undefined {
  for (const pair of document.cookie.split(/; */)) {
    const eq = pair.indexOf('=')
    if (pair.slice(0, eq) === name) return decodeURIComponent(pair.slice(eq + 1))
  }
  return undefined
}
