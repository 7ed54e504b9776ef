import type { AddressInfo } from 'node:net'
import { serve, type HttpBindings } from '@hono/node-server'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { ALICE, ALLOWED_ORIGIN, client, CookieJar, createTestBastion, describeAdapterConformance } from './conformance.ts'
import { bastionHono, requireAuth, type BastionEnv } from './hono.ts'

describeAdapterConformance('hono', async (bastion) => {
  const app = new Hono<{ Bindings: HttpBindings }>()
  app.use('*', bastionHono(bastion))
  app.get('/api/me', requireAuth(bastion), (c) => c.json({ user: { id: c.get('auth').userId, username: c.get('auth').username } }))
  app.post('/api/echo', requireAuth(bastion), async (c) => c.json({ ok: true, body: await c.req.json() }))
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()))
        if ('closeAllConnections' in server) server.closeAllConnections()
      }),
  }
})

describe('Hono on @hono/node-server', () => {
  /** Counts the Headers built from a request's own header pairs (one holding its Cookie): what @hono/node-server makes on `headers`. */
  function countRequestHeaders(): { count: () => number; restore: () => void } {
    const Native = globalThis.Headers
    let built = 0
    globalThis.Headers = class extends Native {
      constructor(init?: ConstructorParameters<typeof Headers>[0]) {
        super(init)
        if (Array.isArray(init) && init.some((pair) => String(pair[0]).toLowerCase() === 'cookie')) built++
      }
    } as typeof Headers
    return { count: () => built, restore: () => void (globalThis.Headers = Native) }
  }

  it("a guarded GET and the CORS decoration read the request's headers without making @hono/node-server build them", async () => {
    const { bastion, cleanup } = await createTestBastion()
    const app = new Hono<{ Bindings: HttpBindings } & BastionEnv>()
    app.use('*', bastionHono(bastion))
    app.get('/api/me', requireAuth(bastion), (c) => c.json({ user: c.get('auth').username }))
    // An application that reads a header itself builds them, which shows the count counts.
    app.get('/api/reads', requireAuth(bastion), (c) => c.json({ app: c.req.header('x-app') ?? null }))
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
    })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const headers = countRequestHeaders()
    try {
      const jar = new CookieJar()
      const call = client(() => url)
      const { csrfToken } = (await (await call('/auth/csrf', { jar })).json()) as { csrfToken: string }
      expect((await call('/auth/login', { jar, csrf: csrfToken, body: ALICE })).status).toBe(200)
      const before = headers.count()
      const me = await call('/api/me', { jar, headers: { origin: ALLOWED_ORIGIN } })
      expect(me.status).toBe(200)
      expect(await me.json()).toEqual({ user: ALICE.username })
      expect(me.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN)
      expect(headers.count() - before).toBe(0)
      // The guard still refuses what it refused: no cookie, and a cookie of the same name given twice.
      expect((await call('/api/me')).status).toBe(401)
      const access = jar.get('__Host-access')!
      const tossed = await call('/api/me', { headers: { cookie: `__Host-access=${access}; __Host-access=${access}` } })
      expect(tossed.status).toBe(403)
      expect(((await tossed.json()) as { error: { code: string } }).error.code).toBe('csrf_failed')
      const reads = await call('/api/reads', { jar, headers: { 'x-app': 'seen' } })
      expect(await reads.json()).toEqual({ app: 'seen' })
      expect(headers.count() - before).toBe(1)
    } finally {
      headers.restore()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        if ('closeAllConnections' in server) server.closeAllConnections()
      })
      await cleanup()
    }
  })
})
