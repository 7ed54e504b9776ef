import Fastify from 'fastify'
import { describeAdapterConformance } from './conformance.ts'
import { bastionFastify, requireAuth } from './fastify.ts'

describeAdapterConformance('fastify', async (bastion) => {
  const app = Fastify()
  await app.register(bastionFastify(bastion))
  app.get('/api/me', { preHandler: requireAuth(bastion) }, async (req) => ({ user: { id: req.auth!.userId, username: req.auth!.username } }))
  app.post('/api/echo', { preHandler: requireAuth(bastion) }, async (req) => ({ ok: true, body: req.body }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return { url: `http://127.0.0.1:${address.port}`, close: () => app.close() }
})
