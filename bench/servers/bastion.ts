// Bastion on node:http with the embedded SQLite store: /api/public (no auth)
// and /api/me (access cookie or bearer verified by bastion.guard).
import { createServer } from 'node:http'
import { json } from '@bastion/server'
import { toNodeListener } from '@bastion/server/node'
import { benchBastion, signInOver } from './common.ts'

const bastion = await benchBastion()

const server = createServer(
  toNodeListener(bastion, async (request, ctx) => {
    const path = new URL(request.url).pathname
    if (path === '/api/public') return json({ hello: 'world' })
    if (path === '/api/me') {
      const g = await bastion.guard(request, ctx)
      return g.ok ? json({ user: { id: g.identity.userId, username: g.identity.username } }) : g.response
    }
    return json({ error: { code: 'not_found', message: 'Not found.' } }, 404)
  }),
)

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  process.stdout.write(JSON.stringify({ ready: true, url, ...(await signInOver(url)) }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
