import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../testing/harness.ts'

let srv: TestServer
beforeAll(async () => {
  srv = await startServer()
})
afterAll(async () => {
  await srv?.close()
})

describe('contract endpoints (browser)', () => {
  it('GET /.well-known/jwks.json lists public keys with kid and alg, no private members', async () => {
    const res = await srv.browser().get('/.well-known/jwks.json')
    expect(res.status).toBe(200)
    expect(res.body.keys.length).toBeGreaterThanOrEqual(1)
    for (const k of res.body.keys) {
      expect(typeof k.kid).toBe('string')
      expect(k.alg).toBe('EdDSA')
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(priv)
    }
  })
})
