import { describe, expect, it } from 'vitest'
import { ConfigError } from '../errors.ts'
import { github, resolveProviders } from './providers.ts'

const oidc = { id: 'oidc', issuer: 'https://id.example.com', clientId: 'c', clientSecret: 's' }

describe('resolveProviders', () => {
  it('fills the documented defaults', () => {
    const [p] = resolveProviders([oidc])
    expect(p).toMatchObject({
      type: 'oidc',
      name: 'oidc',
      clientAuth: 'client_secret_basic',
      scope: 'openid email profile',
      idTokenAlgorithm: 'RS256',
      timeout: 10,
      insecure: false,
      claims: { subject: 'sub', email: 'email', emailVerified: 'email_verified', name: 'name', username: 'preferred_username' },
    })
    const [g] = resolveProviders([github({ clientId: 'c', clientSecret: 's' })])
    expect(g).toMatchObject({ type: 'oauth2', id: 'github', name: 'GitHub', clientAuth: 'client_secret_post', claims: { subject: 'id', username: 'login' } })
  })

  it('accepts plain http only on a loopback issuer', () => {
    expect(resolveProviders([{ ...oidc, issuer: 'http://127.0.0.1:4000' }])[0]!.insecure).toBe(true)
    expect(resolveProviders([{ ...oidc, issuer: 'http://localhost:4000/oidc' }])[0]!.insecure).toBe(true)
    expect(() => resolveProviders([{ ...oidc, issuer: 'http://id.example.com' }])).toThrow(/must be https/)
    expect(() => resolveProviders([{ ...oidc, issuer: 'http://10.0.0.1' }])).toThrow(ConfigError)
    expect(() => resolveProviders([{ ...github({ clientId: 'c', clientSecret: 's' }), tokenEndpoint: 'http://github.example/token' }])).toThrow(/tokenEndpoint.*https/)
  })

  it.each([
    [{ ...oidc, id: 'Bad Id' }, /id must be/],
    [{ ...oidc, clientId: '' }, /clientId/],
    [{ ...oidc, clientSecret: '' }, /clientSecret/],
    [{ ...oidc, issuer: 'not a url' }, /not a URL/],
    [{ ...oidc, idTokenAlgorithm: 'none' }, /asymmetric/],
    [{ ...oidc, idTokenAlgorithm: 'HS256' }, /asymmetric/],
    [{ ...oidc, clientAuth: 'private_key_jwt' }, /clientAuth/],
    [{ ...oidc, timeout: 0 }, /timeout/],
  ])('refuses %j', (p, message) => {
    expect(() => resolveProviders([p as never])).toThrow(message)
  })

  it('refuses two providers with one id', () => {
    expect(() => resolveProviders([oidc, oidc])).toThrow(/two providers/)
  })
})
