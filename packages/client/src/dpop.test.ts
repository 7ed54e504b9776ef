import { afterEach, describe, expect, it } from 'vitest'
import { createAuthClient } from './index.ts'

/** A server stub that records the DPoP header of each auth request. */
function stub() {
  const seen: Array<{ path: string; dpop: string | null }> = []
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = new URL(String(input)).pathname
    seen.push({ path, dpop: new Headers(init?.headers).get('dpop') })
    if (path === '/auth/csrf') return Response.json({ csrfToken: 'c' })
    if (path === '/auth/login') return Response.json({ user: { id: 'u', username: 'alice' }, session: { id: 's' }, csrfToken: 'c' })
    return new Response(null, { status: 204 })
  }) as typeof globalThis.fetch
  return { seen, fetch }
}

const clients: Array<{ close(): void }> = []
afterEach(() => clients.splice(0).forEach((c) => c.close()))

describe('device binding without IndexedDB (Node, or storage blocked)', () => {
  it('signs in without a proof and says unsupported; with dpop: false it says unbound', async () => {
    for (const [options, expected] of [[{}, 'unsupported'], [{ dpop: false as const }, 'unbound']] as const) {
      const s = stub()
      const auth = createAuthClient({ baseUrl: 'http://api.test', fetch: s.fetch, channelName: `dpop-${expected}`, ...options })
      clients.push(auth)
      await auth.login({ username: 'alice', password: 'pw' })
      expect(auth.getState()).toMatchObject({ status: 'signed-in', deviceBinding: expected })
      expect(s.seen.filter((r) => r.path === '/auth/login')).toEqual([{ path: '/auth/login', dpop: null }])
    }
  })
})
