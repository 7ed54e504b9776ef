import { describe, expect, it } from 'vitest'
import { optionsFromEnv } from './env.ts'
import { ConfigError } from './errors.ts'
import { resolveConfig } from './config.ts'
import type { Store } from './store.ts'

const resolve = (env: NodeJS.ProcessEnv) => resolveConfig({ ...optionsFromEnv(env), store: {} as Store, secret: 's'.repeat(40) })

describe('optionsFromEnv: access format and gateway', () => {
  it('defaults: jws, no gateway', () => {
    const c = resolve({})
    expect(c.accessToken.format).toBe('jws')
    expect(c.gateways).toEqual([])
  })

  it('BASTION_ACCESS_FORMAT=jwe; anything else is refused by name', () => {
    expect(resolve({ BASTION_ACCESS_FORMAT: 'jwe' }).accessToken.format).toBe('jwe')
    expect(() => optionsFromEnv({ BASTION_ACCESS_FORMAT: 'jwt' })).toThrow(/BASTION_ACCESS_FORMAT must be jws or jwe/)
  })

  it('BASTION_GATEWAY_* with the contract defaults: /gateway, audience = upstream origin, 10 MiB, 30 s', () => {
    const [g] = resolve({ BASTION_GATEWAY_UPSTREAM: 'http://127.0.0.1:8000' }).gateways
    expect(g).toMatchObject({ prefix: '/gateway', audience: 'http://127.0.0.1:8000', maxBodyBytes: 10 * 1024 * 1024, timeoutMs: 30_000, tokenTtl: 60 })
    const [h] = resolve({
      BASTION_GATEWAY_UPSTREAM: 'http://orders:8000/v1',
      BASTION_GATEWAY_PREFIX: '/orders-api',
      BASTION_GATEWAY_AUDIENCE: 'orders',
      BASTION_GATEWAY_MAX_BODY_BYTES: '2048',
      BASTION_GATEWAY_TIMEOUT_MS: '5000',
    }).gateways
    expect(h).toMatchObject({ prefix: '/orders-api', audience: 'orders', maxBodyBytes: 2048, timeoutMs: 5000 })
    expect(h!.upstream.href).toBe('http://orders:8000/v1')
  })

  it('a gateway that would open a hole or never work stops the start', () => {
    const bad: Record<string, NodeJS.ProcessEnv> = {
      'not a URL': { BASTION_GATEWAY_UPSTREAM: 'orders:8000' },
      'ftp': { BASTION_GATEWAY_UPSTREAM: 'ftp://orders' },
      'credentials in the URL': { BASTION_GATEWAY_UPSTREAM: 'http://u:p@orders' },
      'prefix over /auth': { BASTION_GATEWAY_UPSTREAM: 'http://orders', BASTION_GATEWAY_PREFIX: '/auth' },
      'prefix /': { BASTION_GATEWAY_UPSTREAM: 'http://orders', BASTION_GATEWAY_PREFIX: '/' },
      "Bastion's own audience": { BASTION_GATEWAY_UPSTREAM: 'http://orders', BASTION_GATEWAY_AUDIENCE: 'bastion' },
      'timeout not a number': { BASTION_GATEWAY_UPSTREAM: 'http://orders', BASTION_GATEWAY_TIMEOUT_MS: '30s' },
    }
    for (const [label, env] of Object.entries(bad)) expect(() => resolve(env), label).toThrow(ConfigError)
  })

  it('two upstreams with overlapping prefixes or one audience are refused', () => {
    const base = { store: {} as Store, secret: 's'.repeat(40) }
    expect(() => resolveConfig({ ...base, gateway: [{ upstream: 'http://a', prefix: '/api' }, { upstream: 'http://b', prefix: '/api/b' }] })).toThrow(/overlap/)
    expect(() => resolveConfig({ ...base, gateway: [{ upstream: 'http://a', prefix: '/a', audience: 'x' }, { upstream: 'http://b', prefix: '/b', audience: 'x' }] })).toThrow(/share an audience/)
    expect(resolveConfig({ ...base, gateway: [{ upstream: 'http://a', prefix: '/a' }, { upstream: 'http://b', prefix: '/b' }] }).gateways).toHaveLength(2)
  })
})
