import { CompactEncrypt } from 'jose'
import { describe, expect, it } from 'vitest'
import { deriveKey } from '../crypto/secret.ts'
import { openState, sealState, type OAuthState } from './state-cookie.ts'

const key = deriveKey('s'.repeat(40), 'oauth-state')
const T0 = 1_700_000_000_000
const state: OAuthState = {
  provider: 'oidc',
  state: 'st',
  codeVerifier: 'cv',
  nonce: 'n',
  dpopJkt: null,
  returnTo: '/',
  linkUserId: null,
  binding: 'b',
  expiresAt: T0 + 600_000,
}

describe('the sealed __Host-oauth state', () => {
  it('round-trips, and hides the PKCE verifier and nonce from whoever holds the cookie', async () => {
    const sealed = await sealState(key, { ...state, codeVerifier: 'verifier-secret-123', nonce: 'nonce-secret-456' })
    expect(sealed).not.toMatch(/verifier-secret|nonce-secret/)
    expect(Buffer.from(sealed.split('.').join(''), 'base64url').toString('latin1')).not.toMatch(/verifier-secret|nonce-secret/)
    expect(await openState(key, sealed, T0)).toEqual({ ...state, codeVerifier: 'verifier-secret-123', nonce: 'nonce-secret-456' })
  })

  it('refuses it once expired', async () => {
    const sealed = await sealState(key, state)
    expect(await openState(key, sealed, state.expiresAt - 1)).not.toBeNull()
    expect(await openState(key, sealed, state.expiresAt)).toBeNull()
  })

  it('refuses a cookie sealed with another secret, edited, or garbage', async () => {
    const sealed = await sealState(key, state)
    expect(await openState(deriveKey('t'.repeat(40), 'oauth-state'), sealed, T0)).toBeNull()
    // The CSRF key from the same secret is another key (HKDF purposes).
    expect(await openState(deriveKey('s'.repeat(40), 'csrf'), sealed, T0)).toBeNull()
    const parts = sealed.split('.')
    const ct = Buffer.from(parts[3]!, 'base64url')
    ct[0] = ct[0]! ^ 1
    parts[3] = ct.toString('base64url')
    expect(await openState(key, parts.join('.'), T0)).toBeNull()
    for (const junk of ['', 'a.b.c.d.e', 'x'.repeat(5000), '....']) expect(await openState(key, junk, T0)).toBeNull()
  })

  it('refuses a well-sealed token of another type or shape', async () => {
    const other = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(state))).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(key)
    expect(await openState(key, other, T0)).toBeNull()
    const bad = await sealState(key, { ...state, expiresAt: 'never' } as unknown as OAuthState)
    expect(await openState(key, bad, T0)).toBeNull()
  })
})
