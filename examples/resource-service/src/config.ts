/**
 * The service's configuration from environment variables:
 *
 *   BASTION_JWKS_URL   Bastion's JWKS, e.g. http://localhost:3000/.well-known/jwks.json (required)
 *   BASTION_ISSUER     the `iss` Bastion puts in its tokens (required; the demo's is `bastion`)
 *   BASTION_AUDIENCE   the `aud` Bastion puts in its tokens (required; the demo's is `bastion`)
 *   PORT               where to listen (default 4000); HOST (default localhost)
 */
import type { ResourceServiceOptions } from './server.ts'

export class ConfigError extends Error {}

/** The service's options from environment variables; throws ConfigError with what to set. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): ResourceServiceOptions & { port: number; host: string } {
  const required = (name: string, example: string): string => {
    const value = env[name]?.trim()
    if (!value) throw new ConfigError(`${name} is not set, e.g. ${name}=${example}`)
    return value
  }
  const jwksUrl = required('BASTION_JWKS_URL', 'http://localhost:3000/.well-known/jwks.json')
  try {
    new URL(jwksUrl)
  } catch {
    throw new ConfigError(`BASTION_JWKS_URL "${jwksUrl}" is not a URL.`)
  }
  const rawPort = env.PORT?.trim() || '4000'
  if (!/^\d+$/.test(rawPort) || Number(rawPort) > 65535) throw new ConfigError(`PORT must be a port number, got "${rawPort}".`)
  return {
    jwksUrl,
    issuer: required('BASTION_ISSUER', 'bastion'),
    audience: required('BASTION_AUDIENCE', 'bastion'),
    port: Number(rawPort),
    host: env.HOST?.trim() || 'localhost',
  }
}
