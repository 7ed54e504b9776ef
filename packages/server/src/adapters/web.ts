import type { Bastion, Identity, RequestContext } from '../bastion.ts'
import { pathnameOf } from '../http/pathname.ts'

/** An application handler behind Bastion: `identity` is set when the request is authenticated. */
export type AppHandler = (request: Request, ctx: RequestContext) => Response | Promise<Response>

/**
 * The whole server as one web-standard handler: Bastion's endpoints first,
 * then the application, with CORS headers for allowed SPA origins on both.
 * `bastion.handle` is asked only about requests it answers (`bastion.answers`),
 * so an application route costs no URL parse or header read here.
 */
export function composeHandler(bastion: Bastion, app: AppHandler): (request: Request, ctx?: RequestContext) => Promise<Response> {
  return async (request, ctx = {}) => {
    const path = pathnameOf(request)
    // No pathname (a URL that cannot be parsed): Bastion's handle answers it with its own error.
    if (path === null || bastion.answers(request.method, path)) {
      const own = await bastion.handle(request, ctx)
      if (own) return own
    }
    return bastion.decorate(request, await app(request, ctx))
  }
}

export type { Identity }
