import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { Bastion, RequestContext } from '../bastion.ts'
import { knownBody } from '../http/respond.ts'
import { composeHandler, type AppHandler } from './web.ts'

/**
 * Node `http` adapter: translates an IncomingMessage into a web Request and
 * the Response back, nothing else.
 */
export function toWebRequest(req: IncomingMessage, scheme: 'http' | 'https' = 'http'): Request {
  const host = req.headers.host ?? 'localhost'
  // A malformed Host must not crash URL parsing; fall back and let the origin checks refuse it.
  let url: URL
  try {
    url = new URL(req.url ?? '/', `${scheme}://${host}`)
  } catch {
    url = new URL('http://invalid.invalid/')
  }
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!
    const value = req.rawHeaders[i + 1]!
    try {
      headers.append(name, value)
    } catch {
      // A header value Undici refuses (e.g. control characters) is dropped, not fatal.
    }
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  return new Request(url, {
    method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : null,
    duplex: 'half',
  } as RequestInit)
}

export async function writeWebResponse(res: ServerResponse, response: Response, method = 'GET'): Promise<void> {
  // Read the body first so the head carries Content-Length: one write, no chunked framing.
  const known = knownBody(response)
  const body =
    method === 'HEAD' || !response.body ? null : known !== undefined ? Buffer.from(known) : Buffer.from(await response.arrayBuffer())
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, key) => {
    if (key !== 'set-cookie') headers[key] = value
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  if (body) headers['content-length'] = String(body.length)
  res.writeHead(response.status, headers)
  res.end(body ?? undefined)
}

export function contextOf(req: IncomingMessage): RequestContext {
  return { remoteAddress: req.socket.remoteAddress ?? null }
}

/**
 * A `(req, res)` listener for `http.createServer`: Bastion's endpoints, then
 * `app` (a web-standard handler, which may call `bastion.guard`).
 */
export function toNodeListener(bastion: Bastion, app: AppHandler, options: { scheme?: 'http' | 'https' } = {}) {
  const handler = composeHandler(bastion, app)
  return (req: IncomingMessage, res: ServerResponse): void => {
    const request = toWebRequest(req, options.scheme)
    handler(request, contextOf(req))
      .then((response) => writeWebResponse(res, response, req.method))
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          res.end(JSON.stringify({ error: { code: 'unavailable', message: 'The request could not be completed.' } }))
        } else res.destroy()
      })
  }
}
