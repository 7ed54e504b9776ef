import { describe, expect, it } from 'vitest'
import { isValidUsername } from '../sessions.ts'
import { OAuthFlow, usernameFor } from './flow.ts'
import { ConfigError } from '../errors.ts'
import type { Store } from '../store.ts'

const profile = (over: Partial<Parameters<typeof usernameFor>[0]>) => ({ subject: 's', email: null, emailVerified: false, name: null, username: null, ...over })

describe('usernameFor', () => {
  it('seeds from the preferred username, else the e-mail local part, else the name, else the provider', () => {
    expect(usernameFor(profile({ username: 'Carol.K', email: 'x@example.com' }), 'oidc', 0)).toBe('carol.k')
    expect(usernameFor(profile({ email: 'dave+bank@example.com' }), 'oidc', 0)).toBe('dave-bank')
    expect(usernameFor(profile({ name: 'Ève Dupont' }), 'oidc', 0)).toBe('eve-dupont')
    expect(usernameFor(profile({}), 'github', 0)).toBe('github')
  })

  it('always answers a valid username, and a different one on a clash', () => {
    for (const seed of ['', '..', '---x', 'a', '💥💥💥', 'x'.repeat(200), 'Ｆｕｌｌ', '<script>']) {
      const name = usernameFor(profile({ username: seed }), 'oidc', 0)
      expect(isValidUsername(name), `${seed} -> ${name}`).toBe(true)
      const retry = usernameFor(profile({ username: seed }), 'oidc', 1)
      expect(isValidUsername(retry)).toBe(true)
      expect(retry).not.toBe(name)
    }
  })
})

describe('OAuthFlow options', () => {
  const deps = { store: {} as Store, key: new Uint8Array(32), now: Date.now, log: () => {} }
  const providers = [{ id: 'oidc', issuer: 'https://id.example.com', clientId: 'c', clientSecret: 's' }]

  it('defaults to the __Host-oauth cookie for 600 seconds', () => {
    const flow = new OAuthFlow({ providers }, deps)
    expect([flow.cookieName, flow.stateTtl]).toEqual(['__Host-oauth', 600])
    expect(flow.list()).toEqual([{ id: 'oidc', name: 'oidc' }])
  })

  it('refuses a bad cookie name, a state lifetime out of range, and a bad provider', () => {
    expect(() => new OAuthFlow({ providers, cookieName: 'a b' }, deps)).toThrow(ConfigError)
    expect(() => new OAuthFlow({ providers, stateTtl: 5 }, deps)).toThrow(/stateTtl/)
    expect(() => new OAuthFlow({ providers: [{ ...providers[0]!, issuer: 'http://id.example.com' }] }, deps)).toThrow(/https/)
  })
})
