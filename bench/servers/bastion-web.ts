// Bastion behind the web-standard Node adapter (`toNodeListener`), the path the
// README shows first: every request reaches the application as a web Request
// and every answer leaves as a web Response. One process serves three ports,
// so that the runner measures them in alternation on the same core:
// - the ready line's `url`: the adapter with its default, lazily built Request;
// - `undiciUrl`: the same adapter building a full undici Request per request
//   (`{ request: 'undici' }`, what every request cost before issue 16);
// - `bareUrl`: bare node:http answering the same bytes as /api/public.
//
// Routes on the first two: GET /api/public (no auth), GET /api/me (cookie), /auth/*.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { json } from '@bastion/server'
import { toNodeListener, type NodeListenerOptions } from '@bastion/server/node'
import { benchBastion, browserLogin, listen } from './common.ts'

const { bastion } = await benchBastion()
const NOT_FOUND = { error: { code: 'not_found', message: 'Not found.' } }
const PUBLIC = JSON.stringify({ hello: 'world' })

const listener = (request: NodeListenerOptions['request']) =>
  toNodeListener(
    bastion,
    async (req, ctx) => {
      const path = new URL(req.url).pathname
      if (path === '/api/public') return json({ hello: 'world' })
      if (path === '/api/me') {
        const g = await bastion.guard(req, ctx)
        if (!g.ok) return g.response
        return json({ user: { id: g.identity.userId, username: g.identity.username } })
      }
      return json(NOT_FOUND, 404)
    },
    { request },
  )

const BARE_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }
const bare = createServer((_req, res) => res.writeHead(200, BARE_HEADERS).end(PUBLIC))
const undici = createServer(listener('undici'))
const listening = (s: ReturnType<typeof createServer>) =>
  new Promise<string>((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)))
for (const s of [bare, undici]) s.keepAliveTimeout = 60_000
const [bareUrl, undiciUrl] = await Promise.all([listening(bare), listening(undici)])

listen(createServer(listener('lazy')), async (url) => ({ ...(await browserLogin(url)), bareUrl, undiciUrl }))
