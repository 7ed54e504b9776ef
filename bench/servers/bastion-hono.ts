// Bastion in a Hono app on Node, as examples/hono and the README write it:
// `app.use('*', bastionHono(bastion))`, `requireAuth(bastion)` on /api/me, and
// `@hono/node-server` turning each IncomingMessage into a web Request (its own
// lightweight one, which it installs as the global Request and Response unless
// told not to: its default, kept here because that is what a Hono user runs).
// The same process also serves bare node:http on a second port (`bareUrl`),
// answering the bytes of /api/public, so the runner measures the two in
// alternation on the same core.
//
// Routes: GET /api/public (no auth), GET /api/me (cookie), /auth/*.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { Hono } from 'hono'
import { bastionHono, requireAuth, type BastionEnv } from '@bastion/server/hono'
import { benchBastion, browserLogin, listen } from './common.ts'

const { bastion } = await benchBastion()

const app = new Hono<BastionEnv>()
app.use('*', bastionHono(bastion))
app.get('/api/public', (c) => c.json({ hello: 'world' }))
app.get('/api/me', requireAuth(bastion), (c) => {
  const auth = c.get('auth')
  return c.json({ user: { id: auth.userId, username: auth.username } })
})

const BARE_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }
const PUBLIC = JSON.stringify({ hello: 'world' })
const bare = createServer((_req, res) => res.writeHead(200, BARE_HEADERS).end(PUBLIC))
bare.keepAliveTimeout = 60_000
const bareUrl = await new Promise<string>((resolve) =>
  bare.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(bare.address() as AddressInfo).port}`)),
)

listen(createAdaptorServer({ fetch: app.fetch }) as Server, async (url) => ({ ...(await browserLogin(url)), bareUrl }))
