import { describe, expect, it } from 'vitest'
import type { RouteHandler } from './context.ts'
import { createRouter } from './router.ts'

const h = (name: string): RouteHandler => Object.assign(async () => new Response(name), { label: name })
const label = (m: ReturnType<ReturnType<typeof createRouter>['match']>) =>
  m && m !== 'wrong-method' ? `${(m.handler as unknown as { label: string }).label} ${JSON.stringify(m.params)}` : m

describe('router', () => {
  const router = createRouter([
    { method: 'GET', path: '/auth/session', handler: h('session') },
    { method: 'POST', path: '/auth/login', handler: h('login') },
    { method: 'DELETE', path: '/auth/sessions/:id', handler: h('delete') },
    { method: 'POST', path: '/auth/oauth/:provider', handler: h('oauth-start') },
    { method: 'GET', path: '/auth/oauth/:provider/callback', handler: h('oauth-callback') },
    { method: '*', path: '/gateway/*', handler: h('gateway') },
  ])

  it('matches exact paths by method, and says when only the method is wrong', () => {
    expect(label(router.match('GET', '/auth/session'))).toBe('session {}')
    expect(router.match('POST', '/auth/session')).toBe('wrong-method')
    expect(router.match('GET', '/auth/nothing')).toBeNull()
  })

  it('binds :params (percent-decoded), one non-empty segment each', () => {
    expect(label(router.match('DELETE', '/auth/sessions/a%20b'))).toBe('delete {"id":"a b"}')
    expect(label(router.match('GET', '/auth/oauth/oidc/callback'))).toBe('oauth-callback {"provider":"oidc"}')
    expect(label(router.match('POST', '/auth/oauth/github'))).toBe('oauth-start {"provider":"github"}')
    expect(router.match('DELETE', '/auth/sessions/')).toBeNull()
    expect(router.match('DELETE', '/auth/sessions/a/b')).toBeNull()
    expect(router.match('GET', '/auth/sessions/x')).toBe('wrong-method')
  })

  it('a parameter that does not decode matches nothing (a 404, never a thrown URIError)', () => {
    expect(router.match('DELETE', '/auth/sessions/%E0%A4%A')).toBeNull()
  })

  it('a * route takes every method and any rest of the path, but not a longer first segment', () => {
    expect(label(router.match('PATCH', '/gateway/a/b'))).toBe('gateway {}')
    expect(label(router.match('GET', '/gateway'))).toBe('gateway {}')
    expect(router.match('GET', '/gatewayx/a')).toBeNull()
    expect(router.has('/gateway/x')).toBe(true)
    expect(router.has('/elsewhere')).toBe(false)
  })

  it('has(path) says whether any method matches, with or without a route starting with a parameter', () => {
    const paths = ['/auth/session', '/auth/sessions/x', '/auth/oauth/a/callback', '/gateway', '/gateway/a/b', '/gatewayx', '/', '/api/me', '/x/y', '/auth', '/authx/session', '']
    const rooted = createRouter([
      { method: 'GET', path: '/auth/session', handler: h('session') },
      { method: 'GET', path: '/:tenant/me', handler: h('tenant') },
    ])
    for (const r of [router, rooted]) {
      for (const p of [...paths, '/t1/me', '/t1/me/x']) {
        expect(r.has(p), p).toBe(['GET', 'POST', 'DELETE', 'PATCH'].some((m) => r.match(m, p) !== null))
      }
    }
    expect(rooted.has('/t1/me')).toBe(true)
    expect(router.has('/api/me')).toBe(false)
  })

  it('refuses two handlers for one method and path', () => {
    expect(() => createRouter([
      { method: 'GET', path: '/a', handler: h('1') },
      { method: 'GET', path: '/a', handler: h('2') },
    ])).toThrow(/Two routes/)
  })
})
