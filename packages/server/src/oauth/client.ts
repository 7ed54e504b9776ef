import * as oidc from 'openid-client'
import type { ResolvedProvider } from './providers.ts'

/** What a provider told us about the account, mapped by the provider's claims mapping. */
export interface ProviderProfile {
  subject: string
  email: string | null
  /** True only when the provider said so with a boolean `true`. */
  emailVerified: boolean
  name: string | null
  username: string | null
}

/** The `auth_error` codes of the contract. */
export type OAuthErrorCode = 'oauth_state' | 'oauth_denied' | 'oauth_exchange' | 'oauth_id_token' | 'oauth_unavailable'

/** A failed provider step, as a value with the contract's code; `detail` is for the log, never for the browser. */
export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${detail}`, options)
    this.name = 'OAuthError'
  }
}

export interface AuthorizationRequest {
  redirectUri: string
  state: string
  codeChallenge: string
  nonce: string
}

export interface CallbackChecks {
  /** The registered redirect URI plus the query the provider sent (built from it, not from the Host header). */
  callbackUrl: URL
  state: string
  codeVerifier: string
  nonce: string
}

const asString = (v: unknown): string | null =>
  typeof v === 'string' && v.length > 0 && v.length <= 1024 ? v : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : null

function mapProfile(provider: ResolvedProvider, ...sources: Array<Record<string, unknown> | undefined>): ProviderProfile {
  const pick = (claim: string): unknown => {
    if (!claim) return undefined
    for (const s of sources) if (s && s[claim] !== undefined && s[claim] !== null) return s[claim]
    return undefined
  }
  const subject = asString(pick(provider.claims.subject))
  if (subject === null) throw new OAuthError('oauth_exchange', `the provider's answer has no usable "${provider.claims.subject}" claim`)
  return {
    subject,
    email: asString(pick(provider.claims.email)),
    emailVerified: pick(provider.claims.emailVerified) === true,
    name: asString(pick(provider.claims.name)),
    username: asString(pick(provider.claims.username)),
  }
}

const NETWORK = /fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket|aborted|timeout/i
const ID_TOKEN = /\bid_token\b|ID Token|\bJWT\b|\bJWS\b/

/** Sorts what openid-client throws into the contract's codes. */
export function classify(e: unknown): OAuthError {
  if (e instanceof OAuthError) return e
  const err = e instanceof Error ? e : new Error(String(e))
  const code = (err as { code?: string }).code
  const causeMsg = err.cause instanceof Error ? `${err.cause.name}: ${err.cause.message}` : ''
  const detail = `${err.name}${code ? ` ${code}` : ''}: ${err.message}${causeMsg ? ` (${causeMsg})` : ''}`.slice(0, 500)
  if (err instanceof oidc.AuthorizationResponseError) return new OAuthError('oauth_denied', detail, { cause: e })
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || (err instanceof TypeError && NETWORK.test(`${err.message} ${causeMsg}`))) {
    return new OAuthError('oauth_unavailable', detail, { cause: e })
  }
  if (err instanceof oidc.ResponseBodyError) {
    return new OAuthError(err.status >= 500 ? 'oauth_unavailable' : 'oauth_exchange', detail, { cause: e })
  }
  const status = (err.cause as { status?: unknown } | undefined)?.status
  if (typeof status === 'number' && status >= 500) return new OAuthError('oauth_unavailable', detail, { cause: e })
  if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' || code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || code === 'OAUTH_KEY_SELECTION_FAILED') {
    return new OAuthError('oauth_id_token', detail, { cause: e })
  }
  if (ID_TOKEN.test(`${err.message} ${causeMsg}`)) return new OAuthError('oauth_id_token', detail, { cause: e })
  return new OAuthError('oauth_exchange', detail, { cause: e })
}

/**
 * One provider, through openid-client: discovery (cached; retried on the next
 * sign-in if the provider was down), the authorization URL, and the code
 * exchange with every check (state, PKCE, `iss` of RFC 9207, and for OIDC the
 * ID token's signature against the provider's JWKS with the pinned algorithm,
 * `iss`, `aud`, `nonce`, `exp`). The provider's tokens stay in this function.
 */
export class ProviderClient {
  private configuration: Promise<oidc.Configuration> | undefined

  constructor(readonly provider: ResolvedProvider) {}

  private configure(): Promise<oidc.Configuration> {
    if (!this.configuration) {
      this.configuration = this.load()
      // A provider down now may be up at the next sign-in: do not cache the failure.
      this.configuration.catch(() => (this.configuration = undefined))
    }
    return this.configuration
  }

  private async load(): Promise<oidc.Configuration> {
    const p = this.provider
    const auth = p.clientAuth === 'client_secret_post' ? oidc.ClientSecretPost(p.clientSecret) : oidc.ClientSecretBasic(p.clientSecret)
    const execute = p.insecure ? [oidc.allowInsecureRequests] : []
    if (p.type === 'oidc') {
      const config = await oidc.discovery(new URL(p.issuer), p.clientId, { id_token_signed_response_alg: p.idTokenAlgorithm }, auth, {
        execute,
        timeout: p.timeout,
      })
      // OIDC allows trusting a token-endpoint ID token unsigned-checked over TLS; Bastion checks it against the JWKS anyway.
      oidc.enableNonRepudiationChecks(config)
      return config
    }
    const config = new oidc.Configuration(
      {
        issuer: p.issuer,
        authorization_endpoint: p.authorizationEndpoint,
        token_endpoint: p.tokenEndpoint,
        userinfo_endpoint: p.userinfoEndpoint,
      },
      p.clientId,
      undefined,
      auth,
    )
    config.timeout = p.timeout
    for (const f of execute) f(config)
    return config
  }

  /** The provider's authorization URL (PKCE S256, state, and for OIDC the nonce). Throws OAuthError('oauth_unavailable') if discovery fails. */
  async authorizationUrl(request: AuthorizationRequest): Promise<URL> {
    const config = await this.configure().catch((e) => {
      throw new OAuthError('oauth_unavailable', classify(e).detail, { cause: e })
    })
    const params: Record<string, string> = {
      redirect_uri: request.redirectUri,
      response_type: 'code',
      state: request.state,
      code_challenge: request.codeChallenge,
      code_challenge_method: 'S256',
    }
    if (this.provider.scope) params.scope = this.provider.scope
    if (this.provider.type === 'oidc') params.nonce = request.nonce
    return oidc.buildAuthorizationUrl(config, params)
  }

  /** Exchanges the code and answers the account's profile, or throws an OAuthError. */
  async exchange(checks: CallbackChecks): Promise<ProviderProfile> {
    try {
      const config = await this.configure().catch((e) => {
        throw new OAuthError('oauth_unavailable', classify(e).detail, { cause: e })
      })
      const p = this.provider
      const tokens = await oidc.authorizationCodeGrant(config, checks.callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        ...(p.type === 'oidc' ? { expectedNonce: checks.nonce, idTokenExpected: true } : {}),
      })
      if (p.type === 'oidc') {
        const claims = tokens.claims()
        if (!claims) throw new OAuthError('oauth_id_token', 'no ID token in the token response')
        // The ID token is enough when it carries what the mapping needs; otherwise ask userinfo, for the same subject.
        let userinfo: Record<string, unknown> | undefined
        const needs = [p.claims.email, p.claims.username, p.claims.name].filter(Boolean)
        if (needs.some((c) => claims[c] === undefined) && config.serverMetadata().userinfo_endpoint) {
          userinfo = (await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)) as Record<string, unknown>
        }
        // The signed ID token's claims win over userinfo's where both have one.
        const profile = mapProfile(p, claims as Record<string, unknown>, userinfo)
        if (profile.subject !== claims.sub && p.claims.subject === 'sub') throw new OAuthError('oauth_id_token', 'subject mismatch')
        return profile
      }
      const response = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(p.userinfoEndpoint), 'GET', undefined, new Headers({ Accept: 'application/json' }))
      if (!response.ok) {
        throw new OAuthError(response.status >= 500 ? 'oauth_unavailable' : 'oauth_exchange', `userinfo answered ${response.status}`)
      }
      const body = (await response.json().catch(() => null)) as unknown
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OAuthError('oauth_exchange', 'userinfo is not a JSON object')
      return mapProfile(p, body as Record<string, unknown>)
    } catch (e) {
      throw classify(e)
    }
  }
}
