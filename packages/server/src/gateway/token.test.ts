import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { deriveKey } from '../crypto/secret.ts'
import { Keyring } from '../keys/keyring.ts'
import { sqliteStore } from '../stores/sqlite/index.ts'
import type { AccessClaims } from '../tokens/access-token.ts'
import { GatewayTokens } from './token.ts'

const dir = mkdtempSync(join(tmpdir(), 'bastion-gw-token-'))
const store = sqliteStore({ file: join(dir, 'b.sqlite') })
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('GatewayTokens', () => {
  it('an at+jwt for the upstream audience, verifiable by the JWKS, <= ttl, never past the access token, reused for half its life', async () => {
    await store.migrate()
    let t = Date.now()
    const now = () => t
    const keyring = new Keyring(store, deriveKey('g'.repeat(40), 'key-wrap'), 'EdDSA', 420, now)
    await keyring.init()
    const tokens = new GatewayTokens(keyring, { issuer: 'bastion', audience: 'orders-api', ttl: 60, now })
    const nowS = Math.floor(t / 1000)
    const claims = { sub: 'u1', sid: 's1', preferred_username: 'alice', exp: nowS + 300 } as AccessClaims
    const token = await tokens.tokenFor(claims)
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(keyring.jwks()), { issuer: 'bastion', audience: 'orders-api', typ: 'at+jwt', currentDate: new Date(t) })
    expect(protectedHeader.typ).toBe('at+jwt')
    expect(payload).toMatchObject({ sub: 'u1', sid: 's1', client_id: 'bastion-gateway', preferred_username: 'alice' })
    expect(payload.exp! - payload.iat!).toBe(60)
    // Reused while more than half its life is left, then a fresh one.
    t += 20_000
    expect(await tokens.tokenFor(claims)).toBe(token)
    t += 15_000
    expect(await tokens.tokenFor(claims)).not.toBe(token)
    // Never outlives the browser's own access token.
    const short = decodeJwt(await tokens.tokenFor({ ...claims, sid: 's2', exp: Math.floor(t / 1000) + 10 }))
    expect(short.exp).toBe(Math.floor(t / 1000) + 10)
    // A rotation: the next token is signed by the new key, not served from the cache.
    const before = await tokens.tokenFor(claims)
    const kid = await keyring.rotate()
    const after = await tokens.tokenFor(claims)
    expect(after).not.toBe(before)
    expect(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid).toBe(kid)
  })
})
