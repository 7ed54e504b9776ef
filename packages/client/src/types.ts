/**
 * Public types of the browser client. The client never sees an auth token:
 * these shapes are only what the server chooses to say about the user.
 */

export interface User {
  id: string
  username: string
  [key: string]: unknown
}

export interface Session {
  id: string
  expiresAt: string
  /** When the current access token expires (ISO string, or epoch s/ms). Enables `proactiveRefresh`. */
  accessExpiresAt?: string | number
  [key: string]: unknown
}

/** One row of `GET /auth/sessions`. */
export interface SessionInfo {
  id: string
  userAgent: string | null
  createdAt: string
  lastUsedAt: string
  expiresAt: string
  current: boolean
}

export type AuthStatus = 'signed-in' | 'signed-out' | 'unknown'

export interface AuthState {
  status: AuthStatus
  user?: User
  session?: Session
  /**
   * Whether this tab's last sign-in or refresh proved the device key:
   * `bound` (a stolen refresh cookie is worthless elsewhere), `unsupported`
   * (no IndexedDB or Web Crypto here, e.g. blocked storage: an unbound session),
   * `unbound` (binding turned off in the client). Unset until then.
   */
  deviceBinding?: DeviceBinding
}

export type DeviceBinding = 'bound' | 'unbound' | 'unsupported'

export type AuthListener = (state: AuthState) => void

export interface Credentials {
  username: string
  password: string
}

export interface CsrfOptions {
  /** Cookie the server sets for the page to read (double submit). */
  cookie: string
  /** Request header that carries the token on unsafe methods. */
  header: string
  /** GET endpoint that issues a token (body `csrfToken`, and/or the cookie). */
  path: string
}

export interface AuthPaths {
  login: string
  register: string
  refresh: string
  logout: string
  session: string
  logoutAll: string
  sessions: string
  /** Provider sign-in starts at `${oauth}/<provider>`. */
  oauth: string
}

export interface AuthClientOptions {
  /** '' = same origin; or the API's origin (CORS with credentials). */
  baseUrl?: string
  csrf?: Partial<CsrfOptions>
  paths?: Partial<AuthPaths>
  /**
   * Whether a response means "access token expired: refresh and replay".
   * Default: 401 with `error.code === 'token_expired'`. Read the body from
   * `res.clone()` if you need it: the response is handed back to the caller.
   */
  shouldRefresh?: (res: Response) => boolean | Promise<boolean>
  /** fetch implementation (default: globalThis.fetch, looked up at call time). */
  fetch?: typeof fetch
  /** Seconds before the access token's expiry to refresh it; off when unset. */
  proactiveRefresh?: number
  /** BroadcastChannel name for tab sync; also prefixes the localStorage key. */
  channelName?: string
  /** Called when this tab learns the user is signed out (logout, failed refresh, another tab). */
  onSignedOut?: () => void
  /**
   * Device-bound sessions: a DPoP proof by this browser's non-extractable key
   * on login, register and refresh. `header` default `DPoP`, `db` (the
   * IndexedDB database) default `bastion-dpop`; `false` turns it off.
   */
  dpop?: false | { header?: string; db?: string }
  /** `register()` signs in afterwards (default true). */
  loginAfterRegister?: boolean
  /**
   * Reads the CSRF cookie. Default: `document.cookie`, used only when `baseUrl`
   * is same-origin (a cross-origin API's cookie is not readable). Passing this
   * option means "the cookie is readable": it is then always consulted first.
   */
  readCookie?: (name: string) => string | undefined
}

export interface SignInResult {
  user: User
  session: Session
}

export interface RegisterResult {
  user: User
  session?: Session
}

export interface AuthClient {
  /** Drop-in fetch: credentials, CSRF header, refresh-and-replay once. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  login(credentials: Credentials): Promise<SignInResult>
  register(credentials: Credentials): Promise<RegisterResult>
  logout(): Promise<void>
  logoutAll(): Promise<void>
  /** Who am I; `null` (and signed-out) on 401. */
  session(): Promise<SignInResult | null>
  sessions(): Promise<SessionInfo[]>
  revokeSession(id: string): Promise<void>
  /**
   * Starts a sign-in through a provider (`POST /auth/oauth/:provider`, CSRF
   * and, where the browser has a device key, a DPoP proof that binds the
   * session the callback starts); answers the provider's URL, for the app to
   * navigate to (`location.assign(url)`). `link: true` from a signed-in user
   * links the provider to the account instead.
   */
  startSignIn(provider: string, options?: { returnTo?: string; link?: boolean }): Promise<string>
  subscribe(listener: AuthListener): () => void
  getState(): AuthState
  /** Adds CSRF + withCredentials + refresh-and-replay to an axios instance; returns an eject function. */
  installAxios(instance: AxiosLike): () => void
  /** Closes the tab channel and timers (tests, SSR, hot reload). */
  close(): void
}

export type TabMessageType = 'signed-in' | 'signed-out' | 'refreshed'

export interface TabMessage {
  type: TabMessageType
  at: number
}

/* Structural axios types: the core must not import axios. */

export interface AxiosConfigLike {
  method?: string
  headers?: Record<string, unknown>
  withCredentials?: boolean
}

export interface AxiosInterceptorsLike<V> {
  // Method syntax on purpose: parameters are then checked bivariantly, so a
  // real AxiosInstance (whose configs are richer) is assignable.
  use(onFulfilled?: ((value: V) => V | Promise<V>) | null, onRejected?: ((error: unknown) => unknown) | null): number
  eject(id: number): void
}

export interface AxiosLike {
  interceptors: {
    request: AxiosInterceptorsLike<AxiosConfigLike>
    response: AxiosInterceptorsLike<unknown>
  }
  request(config: AxiosConfigLike): Promise<unknown>
}
