// Bastion on node:http with the embedded SQLite store: /api/public (no auth)
// and /api/me (access cookie or bearer verified by bastion.guard).
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBastion, json } from '@bastion/server'
import { toNodeListener } from '@bastion/server/node'
import { sqliteStore } from '@bastion/server/sqlite'

const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-'))
const bastion = await createBastion({
  store: sqliteStore({ file: join(dir, 'bastion.sqlite') }),
  secret: 'bench-secret-bench-secret-bench-secret-0',
  accessTtl: 3600,
  argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
})
await bastion.createUser('alice', 'alice-password-1')

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
  // Sign in over real HTTP, as a browser would, to get the cookies the load will carry.
  const csrfRes = await fetch(`${url}/auth/csrf`)
  const csrf = csrfRes.headers.getSetCookie()[0]!.split(';')[0]!
  const login = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: csrf, 'x-csrf-token': csrf.split('=')[1]! },
    body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
  })
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).filter((c) => c!.startsWith('__Host-access')).join('; ')
  const token = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
  }).then((r) => r.json() as Promise<{ accessToken: string }>)
  process.stdout.write(JSON.stringify({ ready: true, url, cookie, bearer: token.accessToken }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
