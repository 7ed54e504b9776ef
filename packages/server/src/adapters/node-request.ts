import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { HEADER_OF } from '../http/header-of.ts'
import { LiteHeaders, rawHeaderOf } from '../http/lite-headers.ts'
import { DOT_SEGMENT, PLAIN_PATH, REQUEST_TARGET } from '../http/pathname.ts'

/**
 * A web `Request` over a Node `IncomingMessage`, built as it is read: the
 * method is the parser's, the headers a `LiteHeaders` made on first read, the
 * URL serialized on first read, and an undici `Request` (about 100 µs of the
 * request's budget on Node 20) only when the application asks for something
 * only it has: the body, `clone()`, `new Request(request)`. `instanceof Request`
 * holds; `signal` is aborted when the client goes away before the answer is
 * complete.
 */

/** What undici's request constructor reads of another Request (symbol keys on Node 20/22); forwarded to the real one. */
const UNDICI_SYMBOLS: symbol[] = Object.getOwnPropertySymbols(new Request('http://localhost/'))

/**
 * Whether `new Request(lazyRequest)` can copy a lazy request on this runtime:
 * undici reads another Request's state through symbols on Node 20 and 22 (which
 * the lazy one forwards), through private fields on Node 24+ (which it cannot have).
 */
export const lazyRequestCopies: boolean = UNDICI_SYMBOLS.length > 0

const real: unique symbol = Symbol('bastion.realRequest')

export interface NodeRequestOptions {
  /** The scheme of the URL (default: `https` when the socket is TLS, else `http`). */
  scheme?: 'http' | 'https'
  /** Path and query, when a framework rewrote `req.url` (default: `req.url`). */
  path?: string
  /**
   * The answer to `req`: when given, `signal` aborts if it closes before it is
   * finished (the client went away). Watched only once `signal` is read, so a
   * request that never reads it costs no listener.
   */
  response?: ServerResponse
}

/**
 * The URL as undici would serialize it. An origin-form target ("/a?b") is
 * appended to the origin rather than resolved against it, so "//other.example/x"
 * stays a path on this host. A Host no URL can be built from gives
 * `http://invalid.invalid/` (the listener answers such a request 400 before any handler runs).
 */
export function requestUrl(scheme: string, host: string | undefined, target: string): string {
  const plain = plainUrl(scheme, host ?? 'localhost', target)
  if (plain !== null) return plain
  try {
    if (target.charCodeAt(0) === 47 /* / */) return new URL(`${scheme}://${host ?? 'localhost'}${target}`).href
    return new URL(target, `${scheme}://${host ?? 'localhost'}`).href
  } catch {
    return 'http://invalid.invalid/'
  }
}

/** A query made only of characters a URL keeps as they are in a query (`'` it escapes there, `#` ends it). */
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/
/** A host name a URL keeps as written: lower case, no empty label, no IDNA (`xn--`), the last label not numeric (IPv4). */
const PLAIN_NAME = /^(?:(?!xn--)[a-z0-9-]+\.)*(?!xn--)[a-z][a-z0-9-]*$/
/** An IPv4 address in the form a URL writes it (no leading zeros, four parts). */
const CANONICAL_IPV4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/
const DEFAULT_PORT: Record<string, string> = { http: '80', https: '443' }

/**
 * The URL of an origin-form target, without a URL parse, when parsing would
 * change nothing: a plain host (see above, with a port that is neither the
 * scheme's default nor written with a leading zero) and a target of
 * characters a URL keeps, with no dot segment. `null` otherwise (then parse).
 */
function plainUrl(scheme: string, host: string, target: string): string | null {
  if (DEFAULT_PORT[scheme] === undefined) return null
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  if (!PLAIN_PATH.test(path) || DOT_SEGMENT.test(path) || (q >= 0 && !PLAIN_QUERY.test(target.slice(q + 1)))) return null
  const colon = host.lastIndexOf(':')
  const name = colon < 0 ? host : host.slice(0, colon)
  if (colon >= 0) {
    const port = host.slice(colon + 1)
    if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65535 || port === DEFAULT_PORT[scheme]) return null
  }
  if (!PLAIN_NAME.test(name) && !CANONICAL_IPV4.test(name)) return null
  return `${scheme}://${host}${target}`
}

/**
 * A body stream that touches `req` only when read: a request Bastion passes on
 * keeps its body for the application's own parsers. (`Readable.toWeb` starts
 * consuming at once, so it is wrapped, not called up front.)
 */
export function lazyBody(req: IncomingMessage): ReadableStream<Uint8Array> {
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

class NodeRequest {
  readonly #req: IncomingMessage
  readonly #scheme: 'http' | 'https'
  readonly #target: string
  readonly #res: ServerResponse | undefined
  #url: string | undefined
  #headers: LiteHeaders | undefined
  #abort: AbortController | undefined;
  [real]: Request | undefined

  constructor(req: IncomingMessage, options: NodeRequestOptions) {
    this.#req = req
    this.#res = options.response
    this.#scheme = options.scheme ?? ((req.socket as Partial<TLSSocket> | null)?.encrypted ? 'https' : 'http')
    this.#target = options.path ?? req.url ?? '/'
  }

  get method(): string {
    return this.#req.method ?? 'GET'
  }

  get url(): string {
    return (this.#url ??= requestUrl(this.#scheme, this.#req.headers.host, this.#target))
  }

  /** The request target as received (path and query), for routing without parsing a URL. */
  get [REQUEST_TARGET](): string {
    return this.#target
  }

  get headers(): LiteHeaders {
    return (this.#headers ??= LiteHeaders.fromRaw(this.#req.rawHeaders))
  }

  /** `headers.get(name)` read off the raw pairs, building no `Headers` (http/header-of.ts). */
  [HEADER_OF](name: string): string | null {
    return this.#headers ? this.#headers.get(name) : rawHeaderOf(this.#req.rawHeaders, name)
  }

  get signal(): AbortSignal {
    if (!this.#abort) {
      const abort = (this.#abort = new AbortController())
      const res = this.#res
      if (res && !res.writableFinished) {
        // Node marks a response destroyed when its connection closes: a client gone before the first read is seen here.
        if (res.destroyed) abort.abort(goneReason())
        else res.once('close', () => res.writableFinished || abort.abort(goneReason()))
      }
    }
    return this.#abort.signal
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (!this[real] && (this.method === 'GET' || this.method === 'HEAD')) return null
    return this.materialize().body
  }

  get bodyUsed(): boolean {
    return this[real] ? this[real].bodyUsed : false
  }

  /** The undici Request this one stands for, made once, sharing this one's headers, signal and body. */
  materialize(): Request {
    if (this[real]) return this[real]
    const method = this.method
    const init: RequestInit & { duplex: 'half' } = { method, headers: this.headers as unknown as Headers, signal: this.signal, duplex: 'half' }
    if (method !== 'GET' && method !== 'HEAD') init.body = lazyBody(this.#req)
    return (this[real] = new Request(this.url, init))
  }
}

const goneReason = () => new DOMException('The client closed the connection before the answer was complete.', 'AbortError')

// Everything else a Request has is the real one's: forwarded, so that what is never read is never built.
const own = new Set(['constructor', 'method', 'url', 'headers', 'signal', 'body', 'bodyUsed'])
for (const key of Object.getOwnPropertyNames(Request.prototype)) {
  if (own.has(key)) continue
  const d = Object.getOwnPropertyDescriptor(Request.prototype, key)!
  if (typeof d.value === 'function') {
    Object.defineProperty(NodeRequest.prototype, key, {
      configurable: true,
      writable: true,
      value(this: NodeRequest, ...args: unknown[]) {
        const r = this.materialize() as unknown as Record<string, (...a: unknown[]) => unknown>
        return r[key]!(...args)
      },
    })
  } else if (d.get) {
    Object.defineProperty(NodeRequest.prototype, key, {
      configurable: true,
      get(this: NodeRequest) {
        return (this.materialize() as unknown as Record<string, unknown>)[key]
      },
    })
  }
}
// `new Request(request)` reads undici's internal state through these symbols (Node 20 and 22): handing it the
// real one's makes the copy exact (method, headers, body, signal).
for (const sym of UNDICI_SYMBOLS) {
  Object.defineProperty(NodeRequest.prototype, sym, {
    configurable: true,
    get(this: NodeRequest) {
      return (this.materialize() as unknown as Record<symbol, unknown>)[sym]
    },
  })
}
Object.defineProperty(NodeRequest.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: NodeRequest) {
    return { method: this.method, url: this.url, headers: Object.fromEntries(this.headers.entries()) }
  },
})
Object.defineProperty(NodeRequest.prototype, Symbol.toStringTag, { get: () => 'Request' })
Object.setPrototypeOf(NodeRequest.prototype, Request.prototype)

/** A web Request over `req`, materialised only as far as it is read. */
export function nodeRequest(req: IncomingMessage, options: NodeRequestOptions = {}): Request {
  return new NodeRequest(req, options) as unknown as Request
}

/** Whether `request` is one made by `nodeRequest`. */
export function isNodeRequest(request: unknown): boolean {
  return request instanceof NodeRequest
}

let copiesInstalled = false

/** Whether a lazy request can be copied on this runtime now: natively (Node 20, 22), or since `allowLazyRequestCopies()`. */
export const canCopyLazyRequests = (): boolean => lazyRequestCopies || copiesInstalled

/**
 * Makes `new Request(lazyRequest)` and `fetch(lazyRequest)` work on Node 24
 * and later, so that `toNodeListener` and `nodeListener` can hand every
 * application the lazy request there too (their default once this has run).
 * Those lines' undici reads another request through private fields, which
 * only its own objects have; this replaces the global `Request` with a
 * subclass, and the global `fetch` with a wrapper, that hand undici the real
 * request a lazy one stands for. Everything else is undici's own, and
 * `instanceof Request` holds for native and lazy requests alike.
 *
 * It changes globals, so nothing calls it for you: call it once at start-up,
 * before creating the listener. On Node 20 and 22 it does nothing (a lazy
 * request is copied there already). Code that kept a reference to the
 * original `Request` or `fetch` before the call is not covered.
 *
 * @returns a function that puts the globals back.
 * @example
 * ```ts
 * import { allowLazyRequestCopies, toNodeListener } from '@bastion/server/node'
 * allowLazyRequestCopies()
 * http.createServer(toNodeListener(bastion, app)).listen(3000)
 * ```
 */
export function allowLazyRequestCopies(): () => void {
  if (lazyRequestCopies || copiesInstalled) return () => {}
  const NativeRequest = globalThis.Request
  const nativeFetch = globalThis.fetch
  const unwrap = <T>(input: T): T | Request => (input instanceof NodeRequest ? input.materialize() : input)
  class Request extends NativeRequest {
    constructor(input: ConstructorParameters<typeof NativeRequest>[0], init?: ConstructorParameters<typeof NativeRequest>[1]) {
      super(unwrap(input), init)
    }
    static override [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof NativeRequest
    }
  }
  globalThis.Request = Request
  globalThis.fetch = function fetch(input: Parameters<typeof nativeFetch>[0], init?: Parameters<typeof nativeFetch>[1]) {
    return nativeFetch(unwrap(input), init)
  }
  copiesInstalled = true
  return () => {
    globalThis.Request = NativeRequest
    globalThis.fetch = nativeFetch
    copiesInstalled = false
  }
}
