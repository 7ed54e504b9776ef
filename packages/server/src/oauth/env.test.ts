import { describe, expect, it } from 'vitest'
import { ConfigError } from '../errors.ts'
import { oauthFromEnv } from './env.ts'

const full = { BASTION_OIDC_ISSUER: 'https://id.example.com', BASTION_OIDC_CLIENT_ID: 'c', BASTION_OIDC_CLIENT_SECRET: 's' }

describe('oauthFromEnv', () => {
  it('is off when no BASTION_OIDC_* is set', () => {
    expect(oauthFromEnv({})).toBeUndefined()
  })

  it('makes the provider `oidc` with the documented defaults', () => {
    expect(oauthFromEnv(full)).toEqual({
      providers: [{ id: 'oidc', name: 'OpenID Connect', issuer: 'https://id.example.com', clientId: 'c', clientSecret: 's', clientAuth: 'client_secret_basic' }],
    })
    expect(oauthFromEnv({ ...full, BASTION_OIDC_NAME: 'Acme SSO', BASTION_OIDC_CLIENT_AUTH: 'client_secret_post' })!.providers[0]).toMatchObject({
      name: 'Acme SSO',
      clientAuth: 'client_secret_post',
    })
  })

  it('refuses a half configuration or an unknown client authentication', () => {
    expect(() => oauthFromEnv({ BASTION_OIDC_ISSUER: 'https://id.example.com' })).toThrow(/BASTION_OIDC_CLIENT_ID, BASTION_OIDC_CLIENT_SECRET/)
    expect(() => oauthFromEnv({ ...full, BASTION_OIDC_CLIENT_AUTH: 'none' })).toThrow(ConfigError)
  })
})
