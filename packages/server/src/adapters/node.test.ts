import { createServer } from 'node:http'
import { json } from '../http/respond.ts'
import { describeAdapterConformance, listen } from './conformance.ts'
import { toNodeListener } from './node.ts'

describeAdapterConformance('node', async (bastion) => {
  const listener = toNodeListener(bastion, async (request, ctx) => {
    const path = new URL(request.url).pathname
    if (path !== '/api/me' && path !== '/api/echo') return json({ error: { code: 'not_found', message: 'No such route.' } }, 404)
    const auth = await bastion.guard(request, ctx)
    if (!auth.ok) return auth.response
    if (path === '/api/me' && request.method === 'GET') return json({ user: { id: auth.identity.userId, username: auth.identity.username } })
    if (path === '/api/echo' && request.method === 'POST') return json({ ok: true, body: await request.json() })
    return json({ error: { code: 'not_found', message: 'No such route.' } }, 404)
  })
  return listen(createServer(listener))
})
