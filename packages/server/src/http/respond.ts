import { BastionError, type ErrorCode } from '../errors.ts'

/** Answers that carry identity or tokens must never be cached by a browser or proxy. */
/** What `new Headers(…)` accepts (the DOM's `HeadersInit`, without needing the DOM lib). */
export type HeadersLike = ConstructorParameters<typeof Headers>[0]

const BASE_HEADERS: Record<string, string> = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
}

/**
 * Reading a Response's body back costs more than building it (a web stream
 * per response), so bodies Bastion makes are remembered as strings and the
 * Node adapter writes them directly.
 */
const knownBodies = new WeakMap<Response, string>()

/** The text of a Response made by `json` or `errorResponse`, if its body is still unread. */
export function knownBody(response: Response): string | undefined {
  return response.bodyUsed ? undefined : knownBodies.get(response)
}

/** Responses whose body is a stream to hand on as it comes (the gateway's), never read whole first. */
const streamed = new WeakSet<Response>()

/** Marks a response to be streamed by the Node adapter (chunk by chunk) instead of read whole for a Content-Length. */
export function markStreamed(response: Response): Response {
  streamed.add(response)
  return response
}

export const isStreamed = (response: Response): boolean => streamed.has(response)

function textResponse(text: string, status: number, headers: HeadersLike): Response {
  const res = new Response(text, { status, headers })
  knownBodies.set(res, text)
  return res
}

/** A JSON response with `Cache-Control: no-store` and `nosniff`; apps may use it for their own routes. */
export function json(body: unknown, status = 200, headers?: HeadersLike): Response {
  // A copy each time: @hono/node-server writes Content-Length into the plain object it is given, which would
  // otherwise fix every later answer's length to the first one's (a corrupted connection).
  if (!headers) return textResponse(JSON.stringify(body), status, { ...BASE_HEADERS })
  const h = new Headers(BASE_HEADERS)
  new Headers(headers).forEach((v, k) => h.append(k, v))
  return textResponse(JSON.stringify(body), status, h)
}

export function noContent(headers?: HeadersLike): Response {
  const h = new Headers({ 'Cache-Control': 'no-store' })
  if (headers) new Headers(headers).forEach((v, k) => h.append(k, v))
  return new Response(null, { status: 204, headers: h })
}

export function errorResponse(error: BastionError): Response {
  const headers = new Headers(BASE_HEADERS)
  if (error.retryAfter !== undefined) headers.set('Retry-After', String(Math.max(1, Math.ceil(error.retryAfter))))
  for (const [k, v] of Object.entries(error.headers ?? {})) headers.set(k, v)
  return textResponse(JSON.stringify({ error: { code: error.code, message: error.message } }), error.status, headers)
}

export const fail = (code: ErrorCode, message: string): Response => errorResponse(new BastionError(code, message))
