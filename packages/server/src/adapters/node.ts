import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import type { Bastion, RequestContext, RequestHead } from '../bastion.ts'
import { BastionError } from '../errors.ts'
import { errorResponse, isStreamed, knownBody } from '../http/respond.ts'
import { composeHandler, type AppHandler } from './web.ts'

/**
 * A body stream that touches `req` only when read: a request Bastion passes on
 * keeps its body for the application's own parsers. (`Readable.toWeb` starts
 * consuming at once, so it is wrapped, not called up front.)
 */
function lazyBody(req: IncomingMessage): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= (Readable.toWeb(req) as ReadableStream<Uint8Array>).getReader()
        const { done, value } = await reader.read()
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel(reason) {
        return reader ? reader.cancel(reason) : void req.destroy()
      },
    },
    { highWaterMark: 0 },
  )
}

/**
 * A Host header no URL can be built from. Adapters answer it with a 400
 * before anything else: no browser sends one, and guessing an origin for it
 * would only blur the origin checks.
 */
export function malformedHost(req: IncomingMessage): Response | null {
  try {
    new URL(`http://${req.headers.host ?? 'localhost'}`)
    return null
  } catch {
    return errorResponse(new BastionError('bad_request', 'Malformed Host header.'))
  }
}

/** What `new Request(…, { body })` accepts (the DOM's `BodyInit`, without needing the DOM lib). */
type BodyLike = NonNullable<RequestInit['body']>

export interface WebRequestOverrides {
  /** Path and query, when the framework rewrote `req.url` (Express's `originalUrl`). */
  path?: string
  /** A body a framework's parser already consumed, serialized again. */
  body?: BodyLike | null
}

/**
 * Node `http` adapter: translates an IncomingMessage into a web Request and
 * the Response back, nothing else.
 */
export function toWebRequest(req: IncomingMessage, scheme?: 'http' | 'https', overrides: WebRequestOverrides = {}): Request {
  const proto = scheme ?? ((req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http')
  // A malformed Host must not crash URL parsing; fall back and let the origin checks refuse it.
  let url: URL
  try {
    url = new URL(overrides.path ?? req.url ?? '/', `${proto}://${req.headers.host ?? 'localhost'}`)
  } catch {
    url = new URL('http://invalid.invalid/')
  }
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    try {
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
    } catch {
      // A header value Undici refuses (e.g. control characters) is dropped, not fatal.
    }
  }
  const method = req.method ?? 'GET'
  let body: BodyLike | null = null
  if (method !== 'GET' && method !== 'HEAD') {
    if (overrides.body === undefined) body = lazyBody(req)
    else {
      body = overrides.body
      // The bytes were decoded and re-serialized: the original framing no longer describes them.
      for (const h of ['content-length', 'content-encoding', 'transfer-encoding']) headers.delete(h)
      if (typeof body === 'string' || body instanceof Uint8Array) headers.set('content-length', String(Buffer.byteLength(body)))
    }
  }
  return new Request(url, { method, headers, body, duplex: 'half' } as RequestInit)
}

/**
 * The method, URL and headers of an IncomingMessage, read in place: enough for
 * `bastion.guard`, without building a web Request for every application route.
 */
export function requestHead(req: IncomingMessage, path?: string): RequestHead {
  return new NodeRequestHead(req, path)
}

/** Header lookups on Node's parsed headers (prototype methods: no closures per request). */
class NodeHeaders {
  constructor(private readonly raw: IncomingMessage['headers']) {}
  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()]
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v
  }
  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined
  }
}

class NodeRequestHead implements RequestHead {
  readonly method: string
  readonly headers: NodeHeaders
  private readonly scheme: 'http' | 'https'
  private readonly host: string | undefined
  private readonly target: string
  private fullUrl: string | undefined

  constructor(req: IncomingMessage, path: string | undefined) {
    this.method = req.method ?? 'GET'
    this.headers = new NodeHeaders(req.headers)
    this.scheme = (req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http'
    this.host = req.headers.host
    this.target = path ?? req.url ?? '/'
  }

  /** Built on first use: a safe request with no CORS or origin question never needs it. */
  get url(): string {
    return (this.fullUrl ??= `${this.scheme}://${this.host ?? 'localhost'}${this.target}`)
  }
}

/** Sets the CORS headers an allowed SPA origin needs on a response the application will write. */
export function setCorsHeaders(bastion: Bastion, head: RequestHead, set: (name: string, value: string) => void): void {
  for (const [name, value] of Object.entries(bastion.corsHeaders(head))) set(name, value)
}

export async function writeWebResponse(res: ServerResponse, response: Response, method = 'GET'): Promise<void> {
  if (isStreamed(response)) return writeStreamed(res, response, method)
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

/** A streamed body (the gateway's) is written as it comes; an error midway cuts the connection, the status having gone. */
async function writeStreamed(res: ServerResponse, response: Response, method: string): Promise<void> {
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, key) => {
    if (key !== 'set-cookie') headers[key] = value
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  res.writeHead(response.status, headers)
  if (method === 'HEAD' || !response.body) {
    res.end()
    return
  }
  const reader = response.body.getReader()
  // The browser going away stops the upstream read too.
  res.once('close', () => void reader.cancel().catch(() => {}))
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      if (!res.write(value)) await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve))
      if (res.destroyed) return
    }
    res.end()
  } catch {
    res.destroy()
  }
}

export function contextOf(req: IncomingMessage): RequestContext {
  return { remoteAddress: req.socket.remoteAddress ?? null }
}

/**
 * A `(req, res)` listener for `http.createServer` from any web-standard
 * handler: a malformed Host is answered 400, a handler that throws 503.
 */
export function nodeListener(
  handler: (request: Request, ctx: RequestContext) => Promise<Response>,
  options: { scheme?: 'http' | 'https' } = {},
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const bad = malformedHost(req)
    if (bad) {
      void writeWebResponse(res, bad, req.method)
      return
    }
    handler(toWebRequest(req, options.scheme), contextOf(req))
      .then((response) => writeWebResponse(res, response, req.method))
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          res.end(JSON.stringify({ error: { code: 'unavailable', message: 'The request could not be completed.' } }))
        } else res.destroy()
      })
  }
}

/**
 * A `(req, res)` listener for `http.createServer`: Bastion's endpoints, then
 * `app` (a web-standard handler, which may call `bastion.guard`).
 */
export function toNodeListener(bastion: Bastion, app: AppHandler, options: { scheme?: 'http' | 'https' } = {}) {
  return nodeListener(composeHandler(bastion, app), options)
}
