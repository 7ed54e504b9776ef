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
  // Promises chained by hand, not async functions: an application request is one promise here beyond the app's own.
  const toApp = (request: Request, ctx: RequestContext): Promise<Response> => {
    try {
      return Promise.resolve(app(request, ctx)).then((response) => bastion.decorate(request, response))
    } catch (e) {
      return Promise.reject(e)
    }
  }
  return (request, ctx = {}) => {
    const path = pathnameOf(request)
    // No pathname (a URL that cannot be parsed): Bastion's handle answers it with its own error.
    if (path === null || bastion.answers(request.method, path)) return bastion.handle(request, ctx).then((own) => own ?? toApp(request, ctx))
    return toApp(request, ctx)
  }
}

export type { Identity }
