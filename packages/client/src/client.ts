/**
 * createAuthClient: wires the CSRF source, the single-flight refresher, the
 * tab channel and the state store into the public client. Auth tokens live
 * in HttpOnly cookies; this code only ever sees the CSRF token and what the
 * server says about the user.
 */

import { attachAxios } from './axios.ts'
import { createDeviceKey } from './dpop.ts'
import { createCsrf, documentCookie } from './csrf.ts'
import { errorCode, isJson, isTokenExpired, isUnsafe, ok, readJson } from './http.ts'
import { createRefresher } from './refresh.ts'
import { createStore } from './store.ts'
import { createTabSync } from './sync.ts'
import type {
  AuthClient,
  AuthClientOptions,
  AuthPaths,
  Credentials,
  DeviceBinding,
  Session,
  SessionInfo,
  SignInResult,
  TabMessage,
  User,
} from './types.ts'

/**
 * The browser side of Bastion: a fetch that sends credentials and the CSRF
 * header, refreshes once on `token_expired` (one refresh across all tabs) and
 * replays; sign-in state shared by every tab. It never sees a token.
 *
 * @example
 * ```ts
 * const auth = createAuthClient()                       // same origin; or { baseUrl: 'https://api.example.com' }
 * await auth.login({ username, password })
 * const res = await auth.fetch('/api/transfer', { method: 'POST', body: JSON.stringify({ to, amount }) })
 * ```
 */
export function createAuthClient(options: AuthClientOptions = {}): AuthClient {
  const base = options.baseUrl ?? ''
  const csrfNames = { cookie: '__Host-csrf', header: 'X-CSRF-Token', path: '/auth/csrf', ...options.csrf }
  const paths: AuthPaths = {
    login: '/auth/login',
    register: '/auth/register',
    refresh: '/auth/refresh',
    logout: '/auth/logout',
    session: '/auth/session',
    logoutAll: '/auth/logout-all',
    sessions: '/auth/sessions',
    oauth: '/auth/oauth',
    ...options.paths,
  }
  // Looked up per call, so a fetch polyfilled or stubbed after creation is used.
  const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init))
  const shouldRefresh = options.shouldRefresh ?? isTokenExpired
  const sameOrigin = !base || (typeof location == 'object' && base == location.origin)
  const readCookie = options.readCookie ?? (sameOrigin && typeof document == 'object' ? documentCookie : undefined)
  const url = (path: string) => base + path
  const csrf = createCsrf(fetchImpl, url(csrfNames.path), csrfNames.cookie, readCookie)
  const store = createStore({ status: 'unknown' })
  const sync = createTabSync(options.channelName ?? 'bastion', onTabMessage)
  const refresh = createRefresher('bastion-refresh:' + base, sync.refreshedAt, runRefresh)
  let timer: ReturnType<typeof setTimeout> | undefined
  const dpop = options.dpop
  const device = dpop === false ? undefined : createDeviceKey(dpop?.db ?? 'bastion-dpop')
  let binding: DeviceBinding | undefined
  /** The key being deleted at sign-out: the next proof waits for it, so a new session never reuses it. */
  let resetting: Promise<void> | undefined

  /** A ReadableStream body is consumed by the first send: such a request is never replayed. */
  const replayable = (init: RequestInit) => !(typeof ReadableStream == 'function' && init.body instanceof ReadableStream)

  /** One request: credentials always, CSRF header on unsafe methods, one retry on csrf_failed. */
  async function send(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const request = input instanceof Request ? input : undefined
    const unsafe = isUnsafe(init.method ?? request?.method)
    // Root-relative paths are the API's: prefix baseUrl (a cross-origin API).
    const target = typeof input == 'string' && input[0] == '/' && input[1] != '/' ? base + input : input
    const attempt = async (freshToken?: boolean) => {
      const headers = new Headers(request?.headers)
      new Headers(init.headers).forEach((value, name) => headers.set(name, value))
      if (unsafe) headers.set(csrfNames.header, await csrf.token(freshToken))
      // A JSON string with no type would go out as text/plain, which a JSON API (rightly) refuses.
      if (typeof init.body == 'string' && !headers.has('content-type') && isJson(init.body)) headers.set('content-type', 'application/json')
      // A Request is cloned per attempt so its body can be sent again.
      return fetchImpl(request ? request.clone() : target, { ...init, headers, credentials: 'include' })
    }
    const res = await attempt()
    return unsafe && res.status == 403 && replayable(init) && (await errorCode(res)) == 'csrf_failed'
      ? attempt(true)
      : res
  }

  /** send + at most one refresh-and-replay; the replay's answer is final (no loop). */
  async function authFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const sentAt = Date.now()
    const res = await send(input, init)
    if (!(await shouldRefresh(res))) return res
    return (await refresh(sentAt)) && replayable(init) ? send(input, init) : res
  }

  /**
   * `send` with a DPoP proof by the device key (none where there is no key).
   * A 401 carrying a DPoP-Nonce means this device's clock is off: prove once
   * more with the server's nonce.
   */
  async function sendProved(path: string, init: RequestInit): Promise<Response> {
    let nonce: string | null = null
    for (let i = 0; ; i++) {
      await resetting
      const proof = await device?.proof('POST', url(path), nonce)
      binding = proof ? 'bound' : device ? 'unsupported' : 'unbound'
      const headers = new Headers(init.headers)
      if (proof) headers.set(dpop && dpop.header || 'DPoP', proof)
      const res = await send(url(path), { ...init, headers })
      nonce = res.headers.get('dpop-nonce')
      if (i || !proof || !nonce || res.status != 401) return res
    }
  }

  async function runRefresh(): Promise<boolean> {
    try {
      const res = await sendProved(paths.refresh, { method: 'POST' })
      if (res.ok) {
        const body = await readJson<{ session?: Session; csrfToken?: string }>(res)
        csrf.remember(body?.csrfToken)
        sync.post('refreshed')
        const state = store.get()
        signedIn(state.user, body?.session ?? state.session)
        return true
      }
      // Only a definite "no" signs out; a 5xx or a network error may pass.
      if (res.status == 401) signedOut(true)
    } catch {
      // network error: the caller gets its original response
    }
    return false
  }

  function signedIn(user: User | undefined, session: Session | undefined) {
    store.set({ status: 'signed-in', user, session, deviceBinding: binding })
    schedule(session?.accessExpiresAt)
  }

  function signedOut(broadcast: boolean) {
    clearTimeout(timer)
    csrf.forget()
    // A new device key for the next session (this tab's sign-out; another tab's already reset it).
    if (broadcast) (resetting = device?.reset()), sync.post('signed-out')
    if (store.get().status != 'signed-out') {
      store.set({ status: 'signed-out' })
      options.onSignedOut?.()
    }
  }

  /** Proactive refresh (opt-in): `proactiveRefresh` seconds before the access token expires. */
  function schedule(accessExpiresAt: string | number | undefined) {
    clearTimeout(timer)
    const lead = options.proactiveRefresh
    if (lead == null || accessExpiresAt == null) return
    const scheduledAt = Date.now()
    const expires =
      typeof accessExpiresAt == 'number'
        ? accessExpiresAt < 1e12 ? accessExpiresAt * 1e3 : accessExpiresAt
        : Date.parse(accessExpiresAt)
    const delay = expires - lead * 1e3 - scheduledAt
    // Floor of 1 s: a lead longer than the token's life must not become a refresh loop.
    if (delay == delay) timer = setTimeout(() => void refresh(scheduledAt), Math.min(Math.max(delay, 1e3), 2 ** 31 - 1))
  }

  function onTabMessage(message: TabMessage) {
    if (message.type == 'signed-out') signedOut(false)
    // Another tab signed in (cookies are shared): learn who. After another
    // tab's refresh, a proactive timer needs the new expiry.
    else if (message.type == 'signed-in' || options.proactiveRefresh != null) session().catch(() => {})
  }

  const post = (body?: unknown): RequestInit =>
    body === undefined
      ? { method: 'POST' }
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }

  async function login(credentials: Credentials): Promise<SignInResult> {
    // Always a fresh token first: one bound to a revoked session would be refused.
    await csrf.token(true)
    const res = await ok(await sendProved(paths.login, post(credentials)))
    const { user, session, csrfToken } = (await res.json()) as SignInResult & { csrfToken?: string }
    csrf.forget() // the server rotated the cookie: the pre-login token is stale
    csrf.remember(csrfToken)
    signedIn(user, session)
    sync.post('signed-in')
    return { user, session }
  }

  async function register(credentials: Credentials) {
    await csrf.token(true)
    const res = await ok(await sendProved(paths.register, post(credentials)))
    const { user } = (await res.json()) as { user: User }
    return options.loginAfterRegister == false ? { user } : login(credentials)
  }

  async function logout() {
    try {
      await authFetch(url(paths.logout), post())
    } finally {
      // Signed out locally even if the server could not be reached.
      signedOut(true)
    }
  }

  async function logoutAll() {
    const res = await authFetch(url(paths.logoutAll), post())
    if (res.status != 401) await ok(res)
    signedOut(true)
  }

  async function session(): Promise<SignInResult | null> {
    const res = await authFetch(url(paths.session))
    if (res.status == 401) {
      signedOut(false)
      return null
    }
    const { user, session } = (await (await ok(res)).json()) as SignInResult
    signedIn(user, session)
    return { user, session }
  }

  async function sessions(): Promise<SessionInfo[]> {
    const res = await ok(await authFetch(url(paths.sessions)))
    return ((await res.json()) as { sessions: SessionInfo[] }).sessions
  }

  async function revokeSession(id: string) {
    await ok(await authFetch(url(paths.sessions + '/' + encodeURIComponent(id)), { method: 'DELETE' }))
    if (id == store.get().session?.id) signedOut(true)
  }

  async function startSignIn(provider: string, opts: { returnTo?: string; link?: boolean } = {}) {
    await csrf.token()
    const res = await ok(await sendProved(paths.oauth + '/' + encodeURIComponent(provider), post(opts)))
    return ((await res.json()) as { redirect: string }).redirect
  }

  return {
    fetch: authFetch,
    login,
    register,
    logout,
    logoutAll,
    session,
    sessions,
    revokeSession,
    startSignIn,
    subscribe: store.subscribe,
    getState: store.get,
    installAxios: (instance) =>
      attachAxios({ header: csrfNames.header, token: csrf.token, refresh, shouldRefresh }, instance),
    close() {
      clearTimeout(timer)
      sync.close()
    },
  }
}
