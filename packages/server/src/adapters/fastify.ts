/**
 * Fastify adapter: translates Fastify's request into a web Request and
 * Bastion's Response back, nothing else.
 *
 * ```ts
 * import Fastify from 'fastify'
 * import { bastionFastify, requireAuth } from '@bastion/server/fastify'
 * const app = Fastify()
 * await app.register(bastionFastify(bastion))   // /auth/*, JWKS, CORS preflight, for the whole app
 * app.get('/api/me', { preHandler: requireAuth(bastion) }, async (req) => ({ user: req.auth!.username }))
 * await app.listen({ port: 3000 })
 * ```
 *
 * Bastion answers its endpoints in an `onRequest` hook, from the raw request,
 * before Fastify parses any body: it reads (and size-limits) those bodies
 * itself, and leaves every other request's body to Fastify's parsers.
 */
import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { Bastion, Identity } from '../bastion.ts'
import { knownBody } from '../http/respond.ts'
import { contextOf, malformedHost, requestHead, setCorsHeaders, toWebRequest } from './node.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireAuth`: who the request is. */
    auth?: Identity
  }
}

/** One web Request per Fastify request, shared by the hook and `requireAuth`. */
const webRequests = new WeakMap<IncomingMessage, Request>()

function webRequestOf(req: IncomingMessage): Request {
  let request = webRequests.get(req)
  if (!request) {
    request = toWebRequest(req)
    webRequests.set(req, request)
  }
  return request
}

function send(reply: FastifyReply, response: Response): FastifyReply {
  reply.code(response.status)
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && name !== 'content-length') reply.header(name, value)
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) reply.header('set-cookie', cookies)
  const known = knownBody(response)
  if (known !== undefined) return reply.send(known)
  // A stream (the gateway's upstream answer) goes on as it comes, with Fastify's backpressure; a client that goes
  // away destroys the Node stream, which cancels the web one and with it the upstream request.
  return reply.send(response.body ? Readable.fromWeb(response.body as NodeReadableStream) : undefined)
}

/**
 * A plugin that answers Bastion's endpoints (`/auth/*`, the JWKS, CORS
 * preflights) for the whole application (it is not encapsulated), and sets the
 * CORS headers an allowed SPA origin needs on every other response.
 */
export function bastionFastify(bastion: Bastion): FastifyPluginAsync {
  const plugin: FastifyPluginAsync = async (fastify) => {
    if (!fastify.hasRequestDecorator('auth')) fastify.decorateRequest('auth', undefined)
    fastify.addHook('onRequest', async (request, reply) => {
      const bad = malformedHost(request.raw)
      if (bad) return send(reply, bad)
      const pathname = (request.raw.url ?? '/').split('?')[0]!
      if (bastion.answers(request.method, pathname)) {
        const response = await bastion.handle(webRequestOf(request.raw), contextOf(request.raw))
        if (response) return send(reply, response)
      }
      setCorsHeaders(bastion, requestHead(request.raw), (name, value) => void reply.header(name, value))
      return undefined
    })
  }
  // What fastify-plugin does: the hook applies to every route, not just this plugin's scope.
  return Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@bastion/server/fastify',
  })
}

/**
 * A `preHandler` that authenticates an application route: sets `request.auth`,
 * or answers Bastion's error (401, or 403 when a state-changing request fails
 * the Origin or CSRF checks). It does not read the body.
 */
export function requireAuth(bastion: Bastion): preHandlerAsyncHookHandler {
  return async function requireAuth(request: FastifyRequest, reply: FastifyReply) {
    const result = await bastion.guard(requestHead(request.raw), contextOf(request.raw))
    if (!result.ok) return send(reply, result.response)
    request.auth = result.identity
    return undefined
  }
}
