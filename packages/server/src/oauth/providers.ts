import { isLoopbackHost } from '../config.ts'
import { ConfigError } from '../errors.ts'

/**
 * Which claim (of the ID token, else of the userinfo answer) holds each part
 * of a profile. Providers are data: a new one is a few strings, not a class.
 */
export interface ClaimsMapping {
  /** The provider's stable account id. Default: `sub`. */
  subject?: string
  /** Default: `email`. */
  email?: string
  /** A boolean claim saying the provider verified the e-mail; absent means unverified. Default: `email_verified`. */
  emailVerified?: string
  /** Default: `name`. */
  name?: string
  /** Seeds the local username. Default: `preferred_username`. */
  username?: string
}

interface CommonProvider {
  /** Path segment (`/auth/oauth/<id>`) and the `oauth:<id>` sign-in method: `[a-z0-9-]{1,32}`. */
  id: string
  /** Label of the "Sign in with …" button. Default: the id. */
  name?: string
  clientId: string
  clientSecret: string
  /** How the client authenticates at the token endpoint. Default: `client_secret_basic` (OIDC), `client_secret_post` (oauth2). */
  clientAuth?: 'client_secret_basic' | 'client_secret_post'
  /** Space-separated scopes. Default: `openid email profile` (OIDC), none (oauth2). */
  scope?: string
  claims?: ClaimsMapping
  /** Seconds any one call to the provider may take. Default: 10. */
  timeout?: number
}

/** An OpenID Connect provider found by discovery (`<issuer>/.well-known/openid-configuration`). */
export interface OidcProviderOptions extends CommonProvider {
  type?: 'oidc'
  /** `https://…`; plain `http://` only on a loopback host (`localhost`, `127.0.0.1`), for development and tests. */
  issuer: string
  /** The one algorithm ID tokens must be signed with (checked against the provider's JWKS). Default: `RS256`. */
  idTokenAlgorithm?: string
}

/** A plain OAuth 2 provider (GitHub-style): explicit endpoints, no ID token, the profile from a userinfo answer. */
export interface OAuth2ProviderOptions extends CommonProvider {
  type: 'oauth2'
  authorizationEndpoint: string
  tokenEndpoint: string
  userinfoEndpoint: string
  /** The provider's identifier, checked against an `iss` in the authorization response if it sends one. Default: the authorization endpoint's origin. */
  issuer?: string
}

export type ProviderOptions = OidcProviderOptions | OAuth2ProviderOptions

export interface ResolvedClaims {
  subject: string
  email: string
  emailVerified: string
  name: string
  username: string
}

export type ResolvedProvider =
  | (Required<Omit<OidcProviderOptions, 'claims'>> & { type: 'oidc'; claims: ResolvedClaims; insecure: boolean })
  | (Required<Omit<OAuth2ProviderOptions, 'claims'>> & { type: 'oauth2'; claims: ResolvedClaims; insecure: boolean })

const DEFAULT_CLAIMS: ResolvedClaims = { subject: 'sub', email: 'email', emailVerified: 'email_verified', name: 'name', username: 'preferred_username' }

/**
 * GitHub: OAuth 2 with a userinfo mapping. GitHub's `email` is the public
 * profile e-mail and says nothing of verification, so it never counts as
 * verified (it can then never be used to link accounts).
 *
 * @example
 * ```ts
 * github({ clientId: process.env.GITHUB_CLIENT_ID!, clientSecret: process.env.GITHUB_CLIENT_SECRET! })
 * ```
 */
export function github(options: { clientId: string; clientSecret: string; id?: string; name?: string; scope?: string }): OAuth2ProviderOptions {
  return {
    type: 'oauth2',
    id: options.id ?? 'github',
    name: options.name ?? 'GitHub',
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuth: 'client_secret_post',
    scope: options.scope ?? 'read:user user:email',
    authorizationEndpoint: 'https://github.com/login/oauth/authorize',
    tokenEndpoint: 'https://github.com/login/oauth/access_token',
    userinfoEndpoint: 'https://api.github.com/user',
    issuer: 'https://github.com/login/oauth',
    claims: { subject: 'id', username: 'login', emailVerified: '' },
  }
}

function endpoint(where: string, value: unknown): { url: URL; insecure: boolean } {
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    throw new ConfigError(`${where}: "${String(value)}" is not a URL.`)
  }
  if (url.protocol === 'https:') return { url, insecure: false }
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return { url, insecure: true }
  throw new ConfigError(`${where}: "${String(value)}" must be https:// (plain http:// is accepted only on localhost or 127.0.0.1, for development and tests).`)
}

/** Validates providers at start: a bad one stops the start with a ConfigError that says what to fix. */
export function resolveProviders(list: readonly ProviderOptions[]): ResolvedProvider[] {
  const seen = new Set<string>()
  return list.map((p, i) => {
    const where = `oauth.providers[${i}]${typeof p.id === 'string' ? ` (${p.id})` : ''}`
    if (typeof p.id !== 'string' || !/^[a-z0-9-]{1,32}$/.test(p.id)) throw new ConfigError(`${where}: id must be 1 to 32 of a-z, 0-9 and "-".`)
    if (seen.has(p.id)) throw new ConfigError(`${where}: two providers have the id "${p.id}".`)
    seen.add(p.id)
    if (!p.clientId) throw new ConfigError(`${where}: clientId is required.`)
    if (!p.clientSecret) throw new ConfigError(`${where}: clientSecret is required.`)
    const clientAuth = p.clientAuth ?? (p.type === 'oauth2' ? 'client_secret_post' : 'client_secret_basic')
    if (clientAuth !== 'client_secret_basic' && clientAuth !== 'client_secret_post') {
      throw new ConfigError(`${where}: clientAuth must be 'client_secret_basic' or 'client_secret_post'.`)
    }
    const timeout = p.timeout ?? 10
    if (!(timeout > 0 && timeout <= 60)) throw new ConfigError(`${where}: timeout must be between 0 and 60 seconds.`)
    const claims = { ...DEFAULT_CLAIMS, ...p.claims }
    const common = { id: p.id, name: p.name ?? p.id, clientId: p.clientId, clientSecret: p.clientSecret, clientAuth, timeout, claims }
    if (p.type === 'oauth2') {
      const urls = [
        endpoint(`${where}.authorizationEndpoint`, p.authorizationEndpoint),
        endpoint(`${where}.tokenEndpoint`, p.tokenEndpoint),
        endpoint(`${where}.userinfoEndpoint`, p.userinfoEndpoint),
      ]
      return {
        ...common,
        type: 'oauth2' as const,
        scope: p.scope ?? '',
        authorizationEndpoint: urls[0]!.url.href,
        tokenEndpoint: urls[1]!.url.href,
        userinfoEndpoint: urls[2]!.url.href,
        issuer: p.issuer ?? urls[0]!.url.origin,
        insecure: urls.some((u) => u.insecure),
      }
    }
    if ((p as { type?: string }).type !== undefined && p.type !== 'oidc') throw new ConfigError(`${where}: type must be 'oidc' or 'oauth2'.`)
    const issuer = endpoint(`${where}.issuer`, p.issuer)
    const idTokenAlgorithm = p.idTokenAlgorithm ?? 'RS256'
    if (idTokenAlgorithm === 'none' || /^HS/.test(idTokenAlgorithm)) {
      throw new ConfigError(`${where}: idTokenAlgorithm must be an asymmetric algorithm (RS256, ES256, EdDSA, …), not ${idTokenAlgorithm}.`)
    }
    return {
      ...common,
      type: 'oidc' as const,
      scope: p.scope ?? 'openid email profile',
      issuer: p.issuer,
      idTokenAlgorithm,
      insecure: issuer.insecure,
    }
  })
}
