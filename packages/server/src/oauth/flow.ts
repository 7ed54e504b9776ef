import { randomBytes } from 'node:crypto'
import * as oidc from 'openid-client'
import { safeEqual, sha256 } from '../crypto/encoding.ts'
import { ConfigError, StoreConflictError } from '../errors.ts'
import { isValidUsername, normalizeUsername } from '../sessions.ts'
import { NO_PASSWORD, type Store, type UserRecord } from '../store.ts'
import { OAuthError, ProviderClient, type ProviderProfile } from './client.ts'
import { resolveProviders, type ProviderOptions, type ResolvedProvider } from './providers.ts'
import { safeReturnTo } from './return-to.ts'
import { openState, sealState, type OAuthState } from './state-cookie.ts'

/** `oauth` in the server's options. */
export interface OAuthOptions {
  providers: ProviderOptions[]
  /** The cookie holding the sealed flow state. Default: `__Host-oauth` (HttpOnly, Secure, SameSite=Lax, Path=/). */
  cookieName?: string
  /** Seconds a started sign-in may take. Default: 600. */
  stateTtl?: number
}

export interface OAuthFlowDeps {
  store: Store
  /** Key that seals the state cookie (HKDF of the server secret, purpose `oauth-state`). */
  key: Uint8Array
  now: () => number
  log: (event: { level: 'info' | 'warn' | 'error'; event: string; [k: string]: unknown }) => void
}

export interface StartInput {
  providerId: string
  redirectUri: string
  /** `returnTo` from the body, unchecked. */
  returnTo: unknown
  /** The signed-in user asking to link this provider, or null for a sign-in. */
  linkUserId: string | null
  /** The browser's CSRF cookie (pre-session or session) that the POST proved it holds. */
  csrfCookie: string
  /** Thumbprint of the device key the POST proved (DPoP), or null: the session the callback starts is bound to it. */
  dpopJkt: string | null
}

export interface CallbackInput {
  providerId: string
  redirectUri: string
  /** The query the provider sent back. */
  query: URLSearchParams
  sealed: string | undefined
  csrfCookie: string | undefined
  /** The user of the live session this browser is in now, if any (a link needs it to be the one that asked). */
  currentUserId: string | null
}

export interface CallbackResult {
  user: UserRecord
  /** Where to land: same-origin path. */
  returnTo: string
  /** The device key the flow was started with (DPoP thumbprint), or null. */
  dpopJkt: string | null
  outcome: 'signed_in' | 'created' | 'linked'
}

const bindingOf = (csrfCookie: string) => sha256(`oauth-binding:${csrfCookie}`)

/**
 * The provider sign-in, without HTTP: `start` makes the authorization URL and
 * the sealed state; `callback` checks everything the browser brings back,
 * exchanges the code, and finds, creates or links the local account. Nothing
 * is written to the store before the provider has answered and every check
 * has passed, so a provider down or an attack leaves nothing behind.
 */
export class OAuthFlow {
  readonly cookieName: string
  readonly stateTtl: number
  private readonly clients: Map<string, ProviderClient>

  constructor(
    options: OAuthOptions,
    private readonly deps: OAuthFlowDeps,
  ) {
    this.cookieName = options.cookieName ?? '__Host-oauth'
    this.stateTtl = options.stateTtl ?? 600
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(this.cookieName)) throw new ConfigError(`oauth.cookieName "${this.cookieName}" is not a valid cookie name.`)
    if (!(this.stateTtl >= 60 && this.stateTtl <= 3600)) throw new ConfigError('oauth.stateTtl must be between 60 and 3600 seconds.')
    this.clients = new Map(resolveProviders(options.providers).map((p) => [p.id, new ProviderClient(p)]))
  }

  /** For `GET /auth/providers`. */
  list(): Array<{ id: string; name: string }> {
    return [...this.clients.values()].map((c) => ({ id: c.provider.id, name: c.provider.name }))
  }

  provider(id: string): ResolvedProvider | undefined {
    return this.clients.get(id)?.provider
  }

  async start(input: StartInput): Promise<{ redirect: string; sealed: string; maxAge: number }> {
    const client = this.clients.get(input.providerId)
    if (!client) throw new OAuthError('oauth_state', 'unknown provider')
    const state: OAuthState = {
      provider: client.provider.id,
      state: oidc.randomState(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
      nonce: oidc.randomNonce(),
      returnTo: safeReturnTo(input.returnTo) ?? '/',
      linkUserId: input.linkUserId,
      binding: bindingOf(input.csrfCookie),
      dpopJkt: input.dpopJkt,
      expiresAt: this.deps.now() + this.stateTtl * 1000,
    }
    const url = await client.authorizationUrl({
      redirectUri: input.redirectUri,
      state: state.state,
      nonce: state.nonce,
      codeChallenge: await oidc.calculatePKCECodeChallenge(state.codeVerifier),
    })
    return { redirect: url.href, sealed: await sealState(this.deps.key, state), maxAge: this.stateTtl }
  }

  /** Throws OAuthError with the contract's code; on success the caller starts a fresh session for `user`. */
  async callback(input: CallbackInput): Promise<CallbackResult> {
    const client = this.clients.get(input.providerId)
    if (!client) throw new OAuthError('oauth_state', 'unknown provider')
    const state = input.sealed ? await openState(this.deps.key, input.sealed, this.deps.now()) : null
    if (!state) throw new OAuthError('oauth_state', input.sealed ? 'state cookie forged, expired or from another secret' : 'no state cookie')
    // Mix-up: a flow started for one provider is never finished by another's callback.
    if (state.provider !== client.provider.id) throw new OAuthError('oauth_state', `flow started for another provider (${state.provider})`)
    // Login CSRF: the flow belongs to the browser (pre-session) that started it.
    if (!input.csrfCookie || !safeEqual(bindingOf(input.csrfCookie), state.binding)) {
      throw new OAuthError('oauth_state', 'the state cookie is bound to another pre-session')
    }
    const returned = input.query.get('state')
    if (returned === null || !safeEqual(returned, state.state)) throw new OAuthError('oauth_state', 'state does not match')
    if (input.query.has('error')) throw new OAuthError('oauth_denied', `provider answered error=${input.query.get('error')?.slice(0, 64)}`)
    if (state.linkUserId !== null && state.linkUserId !== input.currentUserId) {
      throw new OAuthError('oauth_state', 'a link must finish in the session that asked for it')
    }
    const callbackUrl = new URL(input.redirectUri)
    callbackUrl.search = input.query.toString()
    const profile = await client.exchange({ callbackUrl, state: state.state, codeVerifier: state.codeVerifier, nonce: state.nonce })
    const account =
      state.linkUserId !== null ? await this.link(client.provider.id, profile, state.linkUserId) : await this.signIn(client.provider.id, profile)
    return { ...account, returnTo: state.returnTo, dpopJkt: state.dpopJkt }
  }

  private async link(provider: string, profile: ProviderProfile, userId: string): Promise<Omit<CallbackResult, 'returnTo' | 'dpopJkt'>> {
    const { store, now } = this.deps
    const user = await store.findUserById(userId)
    if (!user) throw new OAuthError('oauth_state', 'the account asking to link no longer exists')
    const existing = await store.findIdentity(provider, profile.subject)
    if (existing) {
      if (existing.userId === user.id) return { user, outcome: 'signed_in' }
      throw new OAuthError('oauth_denied', 'this provider account is already linked to another user')
    }
    // The contract: a provider account links to an existing account only when the provider vouches for its e-mail.
    if (!profile.emailVerified || !profile.email) throw new OAuthError('oauth_denied', 'the provider did not say the e-mail is verified; not linked')
    try {
      await store.linkIdentity({ provider, subject: profile.subject, userId: user.id, email: profile.email, emailVerified: true, createdAt: now() })
    } catch (e) {
      if (e instanceof StoreConflictError) throw new OAuthError('oauth_denied', 'this provider account was just linked elsewhere')
      throw e
    }
    return { user, outcome: 'linked' }
  }

  /** By provider + subject only; an e-mail never finds (let alone merges into) another account. */
  private async signIn(provider: string, profile: ProviderProfile): Promise<Omit<CallbackResult, 'returnTo' | 'dpopJkt'>> {
    const { store, now } = this.deps
    for (let attempt = 0; attempt < 6; attempt++) {
      const identity = await store.findIdentity(provider, profile.subject)
      if (identity) {
        const user = await store.findUserById(identity.userId)
        if (!user) throw new OAuthError('oauth_state', 'the linked account no longer exists')
        return { user, outcome: 'signed_in' }
      }
      const user: UserRecord = { id: crypto.randomUUID(), username: usernameFor(profile, provider, attempt), passwordHash: NO_PASSWORD, createdAt: now() }
      try {
        await store.createUserWithIdentity(user, {
          provider,
          subject: profile.subject,
          userId: user.id,
          email: profile.email,
          emailVerified: profile.emailVerified,
          createdAt: user.createdAt,
        })
        return { user, outcome: 'created' }
      } catch (e) {
        // A taken username: try another. The identity created by a parallel callback: the next turn finds it.
        if (!(e instanceof StoreConflictError)) throw e
      }
    }
    throw new OAuthError('oauth_exchange', 'could not find a free username')
  }
}

/**
 * A local username from the provider's: its preferred username, else the
 * e-mail's local part, else the name; on a clash (any account, password or
 * provider) a random suffix, never the other account.
 */
export function usernameFor(profile: ProviderProfile, provider: string, attempt: number): string {
  const seed = profile.username ?? profile.email?.split('@')[0] ?? profile.name ?? provider
  let base = normalizeUsername(seed)
    // Accents dropped rather than the letter: 'Ève' is 'eve'.
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 48)
  if (!isValidUsername(base)) base = `${provider}-user`.slice(0, 48)
  if (attempt === 0) return base
  return `${base}-${randomBytes(4).toString('hex')}`
}
