import type { AddressInfo } from 'node:net'
import { serve, type HttpBindings } from '@hono/node-server'
import { Hono } from 'hono'
import { describeAdapterConformance } from './conformance.ts'
import { bastionHono, requireAuth } from './hono.ts'

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
