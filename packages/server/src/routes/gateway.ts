import type { ResolvedGateway } from '../config.ts'
import type { BastionContext, Route, RouteFamily } from '../context.ts'
import { GatewayTokens } from '../gateway/token.ts'
import { proxy, type ProxyOptions } from '../gateway/proxy.ts'

/**
 * The gateway (backend for frontend): every request under a configured
 * prefix is authenticated like Bastion's own routes (access cookie; Origin,
 * Sec-Fetch-Site and CSRF when it changes state) before anything reaches the
 * upstream, which receives a short-lived bearer JWT for its own audience
 * instead of the browser's cookies.
 */
export const gatewayRoutes: RouteFamily = (ctx) => ctx.config.gateways.map((g) => gatewayRoute(ctx, g))

function gatewayRoute(ctx: BastionContext, g: ResolvedGateway): Route {
  const { config, auth } = ctx
  const tokens = new GatewayTokens(ctx.keyring, { issuer: config.issuer, audience: g.audience, ttl: g.tokenTtl, now: config.now })
  const options: ProxyOptions = {
    upstream: g.upstream,
    maxBodyBytes: g.maxBodyBytes,
    timeoutMs: g.timeoutMs,
    protectedCookies: [config.cookies.access.name, config.cookies.refresh.name, config.cookies.csrf.name],
    alsoDrop: [config.csrfHeader],
    onDroppedCookie: (cookie) => config.log({ level: 'warn', event: 'gateway_cookie_dropped', prefix: g.prefix, cookie: cookie.slice(0, 100) }),
  }
  return {
    method: '*',
    path: `${g.prefix}/*`,
    async handler(request, info) {
      // Before anything is sent upstream: a forged or cross-site state change never reaches it.
      const identity = info.unsafe ? await auth.authenticateUnsafe(request, info) : await auth.authenticate(request, info)
      const url = new URL(request.url)
      const target = (url.pathname.slice(g.prefix.length) || '/') + url.search
      const trustedChain = config.trustProxy ? request.headers.get('x-forwarded-for') : null
      return proxy(
        request,
        {
          target,
          bearer: await tokens.tokenFor(identity.claims),
          forwarded: { for: trustedChain?.trim() || info.clientIp, publicOrigin: info.ownOrigin(), prefix: g.prefix },
        },
        options,
      )
    },
  }
}
