import { ConfigError } from '../errors.ts'
import type { OAuthOptions } from './flow.ts'

/**
 * The contract's demo configuration: one generic OIDC provider, id `oidc`,
 * from `BASTION_OIDC_ISSUER`, `BASTION_OIDC_CLIENT_ID`,
 * `BASTION_OIDC_CLIENT_SECRET`, optional `BASTION_OIDC_NAME` (the button's
 * label) and `BASTION_OIDC_CLIENT_AUTH` (`client_secret_basic`, the default,
 * or `client_secret_post`). None set: no provider. Some but not all: a
 * ConfigError (a half-configured provider would only fail at the first sign-in).
 */
export function oauthFromEnv(env: NodeJS.ProcessEnv = process.env): OAuthOptions | undefined {
  const issuer = env.BASTION_OIDC_ISSUER || ''
  const clientId = env.BASTION_OIDC_CLIENT_ID || ''
  const clientSecret = env.BASTION_OIDC_CLIENT_SECRET || ''
  if (!issuer && !clientId && !clientSecret) return undefined
  const missing = Object.entries({ BASTION_OIDC_ISSUER: issuer, BASTION_OIDC_CLIENT_ID: clientId, BASTION_OIDC_CLIENT_SECRET: clientSecret })
    .filter(([, v]) => !v)
    .map(([k]) => k)
  if (missing.length > 0) throw new ConfigError(`Provider sign-in is half configured: set ${missing.join(', ')} too (or none of the BASTION_OIDC_* variables).`)
  const clientAuth = env.BASTION_OIDC_CLIENT_AUTH || 'client_secret_basic'
  if (clientAuth !== 'client_secret_basic' && clientAuth !== 'client_secret_post') {
    throw new ConfigError(`BASTION_OIDC_CLIENT_AUTH must be client_secret_basic or client_secret_post, got "${clientAuth}".`)
  }
  return { providers: [{ id: 'oidc', name: env.BASTION_OIDC_NAME || 'OpenID Connect', issuer, clientId, clientSecret, clientAuth }] }
}
