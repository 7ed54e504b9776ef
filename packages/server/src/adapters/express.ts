/**
 * Express adapter: translates Express's request into a web Request and
 * Bastion's Response back, nothing else.
 *
 * ```ts
 * import express from 'express'
 * import { bastionExpress, requireAuth } from '@bastion/server/express'
 * const app = express()
 * app.use(bastionExpress(bastion))      // /auth/*, JWKS, CORS preflight: mount before body parsers
 * app.use(express.json())
 * app.get('/api/me', requireAuth(bastion), (req, res) => res.json({ user: req.auth!.username }))
 * ```
 *
 * Mount `bastionExpress` before any body parser: Bastion reads (and size-limits)
 * the raw body of its own endpoints, and leaves every other request's body
 * untouched for the application. Mounted after `express.json()` it still works
 * (the parsed body is serialized again), but a malformed body is then answered
 * by Express's error handler, not by Bastion's JSON errors.
 */
import type { IncomingMessage } from 'node:http'
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express'
import type { Bastion, Identity } from '../bastion.ts'
import { contextOf, malformedHost, requestHead, setCorsHeaders, toWebRequest, writeWebResponse } from './node.ts'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `requireAuth`: who the request is. */
      auth?: Identity
    }
  }
}

/** One web Request per Express request, shared by `bastionExpress` and `requireAuth`. */
const webRequests = new WeakMap<IncomingMessage, Request>()

/** The body a parser already read, serialized again; undefined when the stream is still unread. */
function parsedBody(req: ExpressRequest): string | Uint8Array<ArrayBuffer> | null | undefined {
  const consumed = req.readableEnded || (req as { _body?: boolean })._body === true
  if (!consumed) return undefined
  const body: unknown = req.body
  if (body === undefined || body === null) return null
  if (typeof body === 'string') return body
  if (body instanceof Uint8Array) return new Uint8Array(body)
  return JSON.stringify(body)
}

function webRequestOf(req: ExpressRequest): Request {
  let request = webRequests.get(req)
  if (!request) {
    request = toWebRequest(req, undefined, { path: req.originalUrl ?? req.url, body: parsedBody(req) })
    webRequests.set(req, request)
  }
  return request
}

/**
 * Answers Bastion's endpoints (`/auth/*`, the JWKS, CORS preflights) and calls
 * `next()` for everything else, with the CORS headers an allowed SPA origin
 * needs already set on the response.
 */
export function bastionExpress(bastion: Bastion): RequestHandler {
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction): Promise<void> => {
    const bad = malformedHost(req)
    if (bad) return writeWebResponse(res, bad, req.method)
    if (bastion.answers(req.method, req.path)) {
      const response = await bastion.handle(webRequestOf(req), contextOf(req))
      if (response) return writeWebResponse(res, response, req.method)
    }
    setCorsHeaders(bastion, requestHead(req, req.originalUrl), (name, value) => (name === 'Vary' ? res.append(name, value) : res.setHeader(name, value)))
    next()
  }
}

/**
 * Authenticates an application route: sets `req.auth` and calls `next()`, or
 * answers Bastion's error (401, or 403 when a state-changing request fails the
 * Origin or CSRF checks). It does not read the body, so it may run before or
 * after body parsers.
 */
export function requireAuth(bastion: Bastion): RequestHandler {
  return async (req: ExpressRequest, res: ExpressResponse, next: NextFunction): Promise<void> => {
    const result = await bastion.guard(requestHead(req, req.originalUrl), contextOf(req))
    if (!result.ok) return writeWebResponse(res, result.response, req.method)
    req.auth = result.identity
    next()
  }
}
