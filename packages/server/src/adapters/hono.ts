/**
 * Hono adapter: Hono's request already is a web Request, so this only passes
 * it to Bastion and Bastion's Response back.
 *
 * ```ts
 * import { Hono } from 'hono'
 * import { bastionHono, requireAuth } from '@bastion/server/hono'
 * const app = new Hono()
 * app.use('*', bastionHono(bastion))     // /auth/*, JWKS, CORS preflight
 * app.get('/api/me', requireAuth(bastion), (c) => c.json({ user: c.get('auth').username }))
 * serve({ fetch: app.fetch, port: 3000 })  // from '@hono/node-server', or any runtime
 * ```
 *
 * Mount `bastionHono` before routes that read the body; Bastion reads its own
 * endpoints' bodies and leaves every other request's body to the application.
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { Bastion, Identity, RequestContext, RequestHead } from '../bastion.ts'
import { HEADER_OF } from '../http/header-of.ts'
import { rawHeaderOf } from '../http/lite-headers.ts'

/** The variables `requireAuth` sets: `c.get('auth')` is the request's `Identity`. */
export type BastionVariables = { auth: Identity }
export type BastionEnv = { Variables: BastionVariables }

/** What `@hono/node-server` passes as `c.env`: the IncomingMessage the request came from. */
type NodeBindings = { incoming?: { socket?: { remoteAddress?: string }; rawHeaders?: unknown } } | undefined

/** The peer address, where the runtime exposes one (`@hono/node-server` passes the IncomingMessage as `c.env.incoming`). */
function contextOf(c: Context): RequestContext {
  return { remoteAddress: (c.env as NodeBindings)?.incoming?.socket?.remoteAddress ?? null }
}

/**
 * The request as the guards read it. On `@hono/node-server` its headers are
 * read off the IncomingMessage's raw pairs, as `c.req.raw.headers` would show
 * them: asked for `headers`, its lightweight request builds an undici
 * `Headers` of every header, which cost a cookie-authenticated route about
 * 10 µs more than the guard itself. Elsewhere, the request itself.
 */
function headOf(c: Context): RequestHead {
  const pairs = (c.env as NodeBindings)?.incoming?.rawHeaders
  return Array.isArray(pairs) ? new RawPairsHead(c.req.raw, pairs as string[]) : c.req.raw
}

/** A request whose header lookups (`headerOf`) scan the raw pairs; anything else is the request's own. */
class RawPairsHead implements RequestHead {
  constructor(
    private readonly request: Request,
    private readonly pairs: string[],
  ) {}
  get method(): string {
    return this.request.method
  }
  get url(): string {
    return this.request.url
  }
  get headers(): Headers {
    return this.request.headers
  }
  [HEADER_OF](name: string): string | null {
    return rawHeaderOf(this.pairs, name)
  }
}

/**
 * Answers Bastion's endpoints (`/auth/*`, the JWKS, CORS preflights) and hands
 * every other request on, adding the CORS headers an allowed SPA origin needs
 * to the application's response.
 */
export function bastionHono(bastion: Bastion): MiddlewareHandler {
  return async (c, next) => {
    // Asked only about what it answers: an application route costs Bastion no URL parse or header read here.
    if (bastion.answers(c.req.method, c.req.path)) {
      const response = await bastion.handle(c.req.raw, contextOf(c))
      if (response) return response
    }
    await next()
    for (const [name, value] of Object.entries(bastion.corsHeaders(headOf(c)))) c.header(name, value, { append: name === 'Vary' })
    return undefined
  }
}

/**
 * Authenticates an application route: `c.get('auth')` is the `Identity`, or the
 * request is answered with Bastion's error (401, or 403 when a state-changing
 * request fails the Origin or CSRF checks). It does not read the body.
 */
export function requireAuth(bastion: Bastion): MiddlewareHandler<BastionEnv> {
  return async (c, next) => {
    const result = await bastion.guard(headOf(c), contextOf(c))
    if (!result.ok) return result.response
    c.set('auth', result.identity)
    await next()
    return undefined
  }
}
