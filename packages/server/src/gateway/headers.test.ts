import { describe, expect, it } from 'vitest'
import { browserResponseHeaders, mapLocation, setCookieName, stripHopByHop, upstreamRequestHeaders } from './headers.ts'
import { upstreamUrl } from './proxy.ts'

const forwarded = { for: '203.0.113.7', publicOrigin: 'https://app.example.com', prefix: '/gateway' }

describe('upstreamRequestHeaders', () => {
  it('drops the browser\'s credentials and forwarding claims, sets the bearer and X-Forwarded-* itself', () => {
    const incoming = new Headers({
      cookie: '__Host-access=a; __Host-csrf=b',
      authorization: 'Bearer browser-token',
      'x-csrf-token': 'masked',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'http',
      forwarded: 'for=6.6.6.6',
      'x-real-ip': '6.6.6.6',
      host: 'app.example.com',
      'content-type': 'application/json',
      'content-length': '12',
      'accept-encoding': 'gzip, br',
      'x-app': 'kept',
    })
    const h = upstreamRequestHeaders(incoming, { bearer: 'T', alsoDrop: ['X-CSRF-Token'], forwarded })
    expect(Object.fromEntries(h)).toEqual({
      authorization: 'Bearer T',
      'content-type': 'application/json',
      'content-length': '12',
      'accept-encoding': 'identity',
      'x-app': 'kept',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-host': 'app.example.com',
      'x-forwarded-proto': 'https',
      'x-forwarded-prefix': '/gateway',
    })
  })

  it('Connection-named fields go, but naming a field the gateway sets removes nothing it sets', () => {
    const incoming = new Headers({
      connection: 'keep-alive, Authorization, X-Forwarded-For, x-secret, Content-Type, not a token',
      'x-secret': 's',
      'content-type': 'text/plain',
      te: 'trailers',
      trailer: 'x',
      upgrade: 'websocket',
      'proxy-authorization': 'Basic eDp5',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
    })
    const h = upstreamRequestHeaders(incoming, { bearer: 'T', alsoDrop: [], forwarded })
    expect(h.get('authorization')).toBe('Bearer T')
    expect(h.get('x-forwarded-for')).toBe('203.0.113.7')
    for (const gone of ['connection', 'x-secret', 'content-type', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'keep-alive', 'transfer-encoding']) {
      expect(h.has(gone), gone).toBe(false)
    }
  })
})

describe('browserResponseHeaders', () => {
  it('drops Set-Cookie for auth cookie names in any case, keeps others; drops CORS and hop-by-hop; undoes the encoding fetch decoded', () => {
    const up = new Headers({ 'content-type': 'text/html', 'content-encoding': 'gzip', 'content-length': '99', connection: 'x-hop', 'x-hop': '1', 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' })
    for (const c of ['__Host-access=x; Path=/', '__HOST-ACCESS=x; Path=/', ' __Secure-refresh =x; Path=/auth', '__Host-csrf=x', 'theme=dark; Path=/', 'garbage-without-equals', '=nameless']) up.append('set-cookie', c)
    const { headers, droppedCookies } = browserResponseHeaders(up, { protectedCookies: ['__Host-access', '__Secure-refresh', '__Host-csrf'], upstreamOrigin: 'http://up:1', publicBase: '/gateway' })
    expect(headers.getSetCookie()).toEqual(['theme=dark; Path=/'])
    expect(droppedCookies).toEqual(['__Host-access', '__HOST-ACCESS', '__Secure-refresh', '__Host-csrf', '', ''])
    expect(Object.fromEntries([...headers].filter(([k]) => k !== 'set-cookie'))).toEqual({ 'content-type': 'text/html' })
  })

  it('keeps an encoding fetch does not decode, with its length', () => {
    const { headers } = browserResponseHeaders(new Headers({ 'content-encoding': 'zstd-custom', 'content-length': '5' }), { protectedCookies: [], upstreamOrigin: 'http://up:1', publicBase: '/g' })
    expect(headers.get('content-encoding')).toBe('zstd-custom')
    expect(headers.get('content-length')).toBe('5')
  })

  it('setCookieName and mapLocation', () => {
    expect(setCookieName('a=b; Path=/')).toBe('a')
    expect(setCookieName('a; b=c')).toBe('')
    expect(mapLocation('http://up:1/x?y', 'http://up:1', '/g')).toBe('/g/x?y')
    expect(mapLocation('/x', 'http://up:1', '/g')).toBe('/g/x')
    expect(mapLocation('//evil.example/x', 'http://up:1', '/g')).toBe('//evil.example/x')
    expect(mapLocation('https://elsewhere.example/', 'http://up:1', '/g')).toBe('https://elsewhere.example/')
  })

  it('stripHopByHop ignores Connection tokens that are no header name', () => {
    const h = new Headers({ connection: 'a b, , ,c', c: '1', d: '2' })
    stripHopByHop(h)
    expect(Object.fromEntries(h)).toEqual({ d: '2' })
  })
})

describe('upstreamUrl', () => {
  it('keeps the upstream host whatever the target, and its base path', () => {
    const u = new URL('http://up:1/v1')
    expect(upstreamUrl(u, '/orders?x=1').href).toBe('http://up:1/v1/orders?x=1')
    expect(upstreamUrl(u, '//evil.example/x').host).toBe('up:1')
    expect(upstreamUrl(u, '/http://evil.example/').host).toBe('up:1')
    expect(upstreamUrl(new URL('http://up:1'), '/').href).toBe('http://up:1/')
    expect(upstreamUrl(u, '/a%2F..%2F..%2Fadmin').pathname).toBe('/v1/a%2F..%2F..%2Fadmin')
  })
})
