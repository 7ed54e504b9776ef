import type { Bastion, Identity, RequestContext } from '../bastion.ts'

/** An application handler behind Bastion: `identity` is set when the request is authenticated. */
export type AppHandler = (request: Request, ctx: RequestContext) => Response | Promise<Response>

/**
 * The whole server as one web-standard handler: Bastion's endpoints first,
 * then the application, with CORS headers for allowed SPA origins on both.
 */
export function composeHandler(bastion: Bastion, app: AppHandler): (request: Request, ctx?: RequestContext) => Promise<Response> {
  return async (request, ctx = {}) => {
    const own = await bastion.handle(request, ctx)
    if (own) return own
    return bastion.decorate(request, await app(request, ctx))
  }
}

export type { Identity }
