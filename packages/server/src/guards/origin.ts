import type { ResolvedConfig } from '../config.ts'
import { BastionError } from '../errors.ts'
import type { RequestHead, RequestInfo } from './request-info.ts'
import { headerOf } from '../http/header-of.ts'

/**
 * Fetch Metadata and Origin checks for state-changing requests. A sibling
 * subdomain is not trusted (`same-site` is refused), `Origin: null` never is;
 * only the configured SPA origins are let in from elsewhere.
 */
export function checkOrigin(request: RequestHead, info: RequestInfo, config: ResolvedConfig): void {
  const origin = headerOf(request, 'origin')
  const site = headerOf(request, 'sec-fetch-site')
  if (origin === 'null') throw new BastionError('forbidden_origin', 'Requests with Origin: null are refused.')
  if (origin !== null && config.allowedOrigins.has(origin)) return
  if (site === 'cross-site' || site === 'same-site') {
    throw new BastionError('forbidden_origin', `Cross-origin request refused (Sec-Fetch-Site: ${site}).`)
  }
  if (origin !== null && origin !== info.ownOrigin()) {
    throw new BastionError('forbidden_origin', `Origin ${origin.slice(0, 200)} is not allowed.`)
  }
}

/** CORS headers for an allowed SPA origin: exact match from the list, never a reflection of whatever came. */
export function corsHeaders(request: RequestHead, config: ResolvedConfig): Record<string, string> | null {
  const origin = headerOf(request, 'origin')
  if (!origin || !config.allowedOrigins.has(origin)) return null
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Credentials': 'true',
    // DPoP-Nonce: a client with a skewed clock must read it to prove again (RFC 9449 §8).
    'Access-Control-Expose-Headers': 'Retry-After, WWW-Authenticate, DPoP-Nonce',
  }
}

export function preflight(request: Request, config: ResolvedConfig): Response | null {
  if (request.method !== 'OPTIONS' || !headerOf(request, 'access-control-request-method')) return null
  const cors = corsHeaders(request, config)
  if (!cors) {
    return new Response(null, { status: 403, headers: { Vary: 'Origin', 'Cache-Control': 'no-store' } })
  }
  return new Response(null, {
    status: 204,
    headers: {
      ...cors,
      'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
      'Access-Control-Allow-Headers': `Content-Type, ${config.csrfHeader}, Authorization${config.deviceBinding.policy === 'off' ? '' : `, ${config.deviceBinding.header}`}`,
      'Access-Control-Max-Age': '600',
      Vary: 'Origin',
      'Cache-Control': 'no-store',
    },
  })
}
