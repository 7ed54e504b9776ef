import type { ResolvedConfig } from './config.ts'
import type { DeviceBinding } from './dpop/binding.ts'
import type { Authenticator } from './guards/authenticate.ts'
import type { RequestInfo } from './guards/request-info.ts'
import type { SessionCookies } from './http/session-cookies.ts'
import type { Keyring } from './keys/keyring.ts'
import type { Credentials } from './services/credentials.ts'
import type { Sessions } from './services/sessions.ts'
import type { Store } from './store.ts'
import type { AccessTokens } from './tokens/access-token.ts'

/**
 * What every route family shares: configuration, the store, the token and
 * key services, and the guards. Built once by `createBastion`; a route module
 * is a function of it and holds no other state of its own.
 */
export interface BastionContext {
  readonly config: ResolvedConfig
  readonly store: Store
  readonly keyring: Keyring
  readonly access: AccessTokens
  readonly auth: Authenticator
  readonly cookies: SessionCookies
  readonly credentials: Credentials
  readonly sessions: Sessions
  /** Device-bound sessions: which key a session starting now is bound to, and whether a refresh proves it. */
  readonly binding: DeviceBinding
  /** Keys derived from the server secret, one per purpose. */
  readonly keys: {
    readonly csrf: Uint8Array
    /** MAC of refresh-token generations (sessions.ts). */
    readonly refreshToken: Uint8Array
    /** Successors of legacy refresh tokens, for sessions made before the generation format. */
    readonly refreshSuccessor: Uint8Array
  }
}

/** Path parameters of a matched route, e.g. `{ id }` for `/auth/sessions/:id`. */
export type RouteParams = Readonly<Record<string, string>>

export type RouteHandler = (request: Request, info: RequestInfo, params: RouteParams) => Promise<Response>

/**
 * One endpoint. `path` is absolute (the family adds `config.basePath` itself);
 * a segment `:name` matches one non-empty segment, a final `*` any rest
 * (a prefix route, as the gateway's).
 */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | '*'
  path: string
  handler: RouteHandler
}

/** A family of routes (session, refresh, sessions, …): one module, one file to read for one behaviour. */
export type RouteFamily = (ctx: BastionContext) => Route[]
