import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Bastion, RequestContext, RequestHead } from '../bastion.ts'
import { BastionError } from '../errors.ts'
import { errorResponse, knownBody } from '../http/respond.ts'
import { composeHandler, type AppHandler } from './web.ts'
import { lazyBody, canCopyLazyRequests, nodeRequest, requestUrl } from './node-request.ts'
import { writeResponse, writeWebResponse } from './write-response.ts'

export { allowLazyRequestCopies, nodeRequest, type NodeRequestOptions } from './node-request.ts'
export { writeWebResponse } from './write-response.ts'

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
  /** The request's `signal` (the Node listener aborts it when the client goes away first). */
  signal?: AbortSignal
}

/**
 * Node `http` adapter: translates an IncomingMessage into a web Request and
 * the Response back, nothing else.
 */
export function toWebRequest(req: IncomingMessage, scheme?: 'http' | 'https', overrides: WebRequestOverrides = {}): Request {
  const proto = scheme ?? ((req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http')
  // A malformed Host must not crash URL parsing; it falls back, and the origin checks refuse it.
  const url = requestUrl(proto, req.headers.host, overrides.path ?? req.url ?? '/')
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
  return new Request(url, { method, headers, body, duplex: 'half', ...(overrides.signal ? { signal: overrides.signal } : {}) } as RequestInit)
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

export function contextOf(req: IncomingMessage): RequestContext {
  return { remoteAddress: req.socket.remoteAddress ?? null }
}

export interface NodeListenerOptions {
  /** The scheme of request URLs (default: `https` when the socket is TLS, else `http`). */
  scheme?: 'http' | 'https'
  /**
   * How each request reaches the handler: `'lazy'` is a web Request over the
   * IncomingMessage that builds an undici `Request` only when the body,
   * `clone()` or `new Request(request)` needs one; `'undici'` builds one for
   * every request up front (about 100 µs on Node 20, 20 on Node 24). Default:
   * `'lazy'` where the runtime lets `new Request(request)` copy it (Node 20 and
   * 22, whose undici keeps its state under symbols); `'undici'` on Node 24+,
   * whose undici keeps it in private fields that only a real undici object has,
   * unless `allowLazyRequestCopies()` has run (it replaces the global `Request`
   * and `fetch`, so the adapter never does it unasked). `'lazy'` on 24+ without
   * it: fast, but `new Request(request)` and `fetch(request)` throw.
   */
  request?: 'lazy' | 'undici'
}

/** A Host that needs no URL parse to be trusted as a host: a name or IPv4 address with an optional port. */
const PLAIN_HOST = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/

function unavailable(res: ServerResponse): void {
  if (!res.headersSent) {
    res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify({ error: { code: 'unavailable', message: 'The request could not be completed.' } }))
  } else res.destroy()
}

/**
 * A `(req, res)` listener for `http.createServer` from any web-standard
 * handler: a malformed Host is answered 400, a handler that throws 503, and
 * the request's `signal` aborts when the client goes away first.
 */
export function nodeListener(handler: (request: Request, ctx: RequestContext) => Promise<Response>, options: NodeListenerOptions = {}) {
  const undici = (options.request ?? (canCopyLazyRequests() ? 'lazy' : 'undici')) === 'undici'
  return (req: IncomingMessage, res: ServerResponse): void => {
    const host = req.headers.host
    if (host !== undefined && !PLAIN_HOST.test(host)) {
      const bad = malformedHost(req)
      if (bad) {
        void writeWebResponse(res, bad, req.method)
        return
      }
    }
    // The lazy request watches the connection itself, once its signal is read; an undici one is given this signal.
    const abort = undici ? new AbortController() : undefined
    if (abort) {
      res.once('close', () => {
        if (!res.writableFinished) abort.abort(new DOMException('The client closed the connection before the answer was complete.', 'AbortError'))
      })
    }
    let answer: Promise<Response>
    try {
      const request = abort ? toWebRequest(req, options.scheme, { signal: abort.signal }) : nodeRequest(req, { scheme: options.scheme, response: res })
      answer = handler(request, contextOf(req))
    } catch {
      // A method undici refuses (TRACE) or a handler that throws before its first await: never an uncaught exception.
      return unavailable(res)
    }
    answer.then((response) => writeResponse(res, response, req.method ?? 'GET')).catch(() => unavailable(res))
  }
}

/**
 * A `(req, res)` listener for `http.createServer`: Bastion's endpoints, then
 * `app` (a web-standard handler, which may call `bastion.guard`).
 */
export function toNodeListener(bastion: Bastion, app: AppHandler, options: NodeListenerOptions = {}) {
  return nodeListener(composeHandler(bastion, app), options)
}
