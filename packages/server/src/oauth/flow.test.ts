import { describe, expect, it } from 'vitest'
import { isValidUsername } from '../sessions.ts'
import { usernameFor } from './flow.ts'

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
