import { BastionError } from '../errors.ts'
import { errorResponse } from '../http/respond.ts'
import { browserResponseHeaders, upstreamRequestHeaders, type ForwardedFor } from './headers.ts'

/**
 * One proxied exchange over undici (Node's own `fetch`): no dependency to
 * add, HTTP/1.1 keep-alive pooling, request bodies streamed with
 * `duplex: 'half'` and response bodies handed on as a web stream. Everything
 * Bastion decides (who may pass, which headers) happens before and after it,
 * in plain functions (see headers.ts).
 */
export interface ProxyOptions {
  /** The upstream's origin, e.g. `http://127.0.0.1:4000` (a path on it is kept as a base). */
  upstream: URL
  /** Largest request body passed on, in bytes. */
  maxBodyBytes: number
  /** Milliseconds the upstream has to start answering, and then between two chunks of its body. */
  timeoutMs: number
  /** Cookie names an upstream may not set (Bastion's own). */
  protectedCookies: readonly string[]
  /** Request headers that carry browser credentials besides Cookie and Authorization (the CSRF header). */
  alsoDrop: readonly string[]
  /** Told of an upstream `Set-Cookie` dropped (name only). */
  onDroppedCookie?: (name: string) => void
}

export interface ProxyCall {
  /** The path and query to ask the upstream for, e.g. `/orders?page=2` (already stripped of the prefix). */
  target: string
  bearer: string
  forwarded: ForwardedFor
}

const upstreamUnavailable = () => errorResponse(new BastionError('upstream_unavailable', 'The upstream service is unavailable.'))
const upstreamTimeout = () => errorResponse(new BastionError('upstream_timeout', 'The upstream service did not answer in time.'))
const tooLarge = (max: number) => errorResponse(new BastionError('payload_too_large', `The request body is larger than ${max} bytes.`))

/** The request body, cut off with an error once it passes `max` bytes (a body without Content-Length, or a lying one). */
function boundedBody(body: ReadableStream<Uint8Array>, max: number, onTooLarge: () => void): ReadableStream<Uint8Array> {
  let seen = 0
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength
        if (seen > max) {
          onTooLarge()
          controller.error(new Error('request body too large'))
          return
        }
        controller.enqueue(chunk)
      },
    }),
  )
}

/**
 * The upstream's body, with an idle timer: a chunk must come within
 * `timeoutMs` of the last, or the stream errors (the browser's connection is
 * then cut: the status line has gone already). Never a hang.
 */
function idleBounded(body: ReadableStream<Uint8Array>, timeoutMs: number, abort: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let timer: NodeJS.Timeout | undefined
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        timer = setTimeout(abort, timeoutMs)
        try {
          const { done, value } = await reader.read()
          if (done) controller.close()
          else controller.enqueue(value)
        } catch (e) {
          controller.error(e)
        } finally {
          clearTimeout(timer)
        }
      },
      cancel(reason) {
        clearTimeout(timer)
        abort()
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}

/** The upstream URL for a target path: the upstream's own path (if any) as a base, the target's path and query under it. */
export function upstreamUrl(upstream: URL, target: string): URL {
  const base = upstream.pathname.replace(/\/$/, '')
  // Resolved against the origin only: a target like `//evil.example/x` or `http://…` cannot change the host.
  const url = new URL(upstream.origin)
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  url.pathname = base + (path.startsWith('/') ? path : `/${path}`)
  url.search = q < 0 ? '' : target.slice(q)
  if (url.origin !== upstream.origin) throw new BastionError('bad_request', 'Malformed gateway path.')
  return url
}

/**
 * Sends `request` upstream and answers what the browser gets: the upstream's
 * answer (headers filtered, body streamed), or `413`, `502`, `504` JSON.
 */
export async function proxy(request: Request, call: ProxyCall, options: ProxyOptions): Promise<Response> {
  const { maxBodyBytes, timeoutMs } = options
  const declared = request.headers.get('content-length')
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBodyBytes) return tooLarge(maxBodyBytes)
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.body !== null
  let bodyTooLarge = false
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  let upstream: Response
  try {
    upstream = await fetch(upstreamUrl(options.upstream, call.target), {
      method: request.method,
      headers: upstreamRequestHeaders(request.headers, { bearer: call.bearer, alsoDrop: options.alsoDrop, forwarded: call.forwarded }),
      body: hasBody ? boundedBody(request.body!, maxBodyBytes, () => (bodyTooLarge = true)) : null,
      redirect: 'manual',
      signal: controller.signal,
      duplex: 'half',
    } as RequestInit)
  } catch (e) {
    if (bodyTooLarge) return tooLarge(maxBodyBytes)
    if (timedOut) return upstreamTimeout()
    if (e instanceof BastionError) throw e
    return upstreamUnavailable()
  } finally {
    clearTimeout(timer)
  }
  const { headers, droppedCookies } = browserResponseHeaders(upstream.headers, {
    protectedCookies: options.protectedCookies,
    upstreamOrigin: options.upstream.origin,
    publicBase: call.forwarded.prefix,
  })
  for (const name of droppedCookies) options.onDroppedCookie?.(name)
  const body = upstream.body && request.method !== 'HEAD' ? idleBounded(upstream.body, timeoutMs, () => controller.abort()) : null
  const nullBody = upstream.status === 204 || upstream.status === 304
  // The Node adapter copies a stream body chunk by chunk, with backpressure (adapters/write-response.ts).
  return new Response(nullBody ? null : body, { status: upstream.status, statusText: upstream.statusText, headers })
}
