import { BastionError, type ErrorCode } from '../errors.ts'
import { LiteHeaders } from './lite-headers.ts'
import { LiteResponse, liteResponse } from './lite-response.ts'

/** Answers that carry identity or tokens must never be cached by a browser or proxy. */
/** What `new Headers(…)` accepts (the DOM's `HeadersInit`, without needing the DOM lib). */
export type HeadersLike = ConstructorParameters<typeof Headers>[0]

const BASE_HEADERS: Record<string, string> = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
}
const NO_STORE: Record<string, string> = { 'Cache-Control': 'no-store' }

/**
 * The text of a Response made by `json`, `noContent` or `errorResponse`, while
 * its body is unread: the Node and Fastify adapters write it as it is, without
 * the web stream an undici Response would need read back. (`null`: no body.)
 */
export function knownBody(response: Response): string | undefined {
  if (!(response instanceof LiteResponse)) return undefined
  return response.unreadText ?? undefined
}

function headersOf(base: Record<string, string>, extra?: HeadersLike): LiteHeaders {
  // A fresh object each time: @hono/node-server writes Content-Length into the headers it is given, which would
  // otherwise fix every later answer's length to the first one's (a corrupted connection).
  const h = new LiteHeaders(base)
  if (extra) {
    const pairs = Symbol.iterator in Object(extra) ? (extra as Iterable<readonly [string, string]>) : Object.entries(extra as Record<string, string>)
    for (const [k, v] of pairs) h.append(k, v)
  }
  return h
}

/** A JSON response with `Cache-Control: no-store` and `nosniff`; apps may use it for their own routes. */
export function json(body: unknown, status = 200, headers?: HeadersLike): Response {
  return liteResponse(JSON.stringify(body), status, headersOf(BASE_HEADERS, headers))
}

export function noContent(headers?: HeadersLike): Response {
  return liteResponse(null, 204, headersOf(NO_STORE, headers))
}

export function errorResponse(error: BastionError): Response {
  const headers = new LiteHeaders(BASE_HEADERS)
  if (error.retryAfter !== undefined) headers.set('Retry-After', String(Math.max(1, Math.ceil(error.retryAfter))))
  for (const [k, v] of Object.entries(error.headers ?? {})) headers.set(k, v)
  return liteResponse(JSON.stringify({ error: { code: error.code, message: error.message } }), error.status, headers)
}

export const fail = (code: ErrorCode, message: string): Response => errorResponse(new BastionError(code, message))
