// Bastion's hot path on bare node:http: `bastion.guard` over a RequestHead
// read in place, the answer written with res.end. No web Request or Response
// on application routes; Bastion's own endpoints go through the adapter.
import { createServer } from 'node:http'
import { contextOf, requestHead, toWebRequest, writeWebResponse } from '@bastion/server/node'
import { benchBastion, signInOver } from './common.ts'

const bastion = await benchBastion()
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }

const server = createServer(async (req, res) => {
  const path = (req.url ?? '/').split('?')[0]!
  if (bastion.answers(req.method ?? 'GET', path)) {
    const answer = await bastion.handle(toWebRequest(req), contextOf(req))
    if (answer) return writeWebResponse(res, answer, req.method)
  }
  if (path === '/api/public') return res.writeHead(200, JSON_HEADERS).end('{"hello":"world"}')
  if (path === '/api/me') {
    const g = await bastion.guard(requestHead(req), contextOf(req))
    if (!g.ok) return writeWebResponse(res, g.response, req.method)
    return res.writeHead(200, JSON_HEADERS).end(JSON.stringify({ user: { id: g.identity.userId, username: g.identity.username } }))
  }
  res.writeHead(404, JSON_HEADERS).end('{"error":{"code":"not_found","message":"Not found."}}')
})

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  process.stdout.write(JSON.stringify({ ready: true, url, ...(await signInOver(url)) }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
