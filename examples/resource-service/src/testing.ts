/**
 * Test helpers: a counting proxy in front of Bastion's JWKS route (so a test
 * can count the fetches that reach Bastion, or make the JWKS unreachable), and
 * the resource service wired to a harness Bastion.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { PASSWORD, nativeRequest, toRes, type Res, type TestServer } from '../../../packages/server/src/testing/harness.ts'
import { startResourceService, type ResourceServiceOptions, type RunningService } from './server.ts'

export type ProxyMode = 'pass' | 'refuse' | 'error' | 'hang'

export interface JwksProxy {
  /** The JWKS URL to give the resource service. */
  jwksUrl: string
  /** Requests forwarded to Bastion's JWKS route. */
  hits: number
  /** `pass` forwards; `refuse` drops the connection; `error` answers 500; `hang` never answers. */
  mode: ProxyMode
  close(): Promise<void>
}

export async function jwksProxy(bastionUrl: string): Promise<JwksProxy> {
  const hanging = new Set<http.ServerResponse>()
  const server = http.createServer((req, res) => {
    if (proxy.mode === 'refuse') return req.socket.destroy()
    if (proxy.mode === 'error') return res.writeHead(500).end('down')
    if (proxy.mode === 'hang') return void hanging.add(res)
    proxy.hits++
    fetch(bastionUrl + req.url)
      .then(async (r) => {
        const body = await r.text()
        res.writeHead(r.status, { 'Content-Type': r.headers.get('content-type') ?? 'application/json' }).end(body)
      })
      .catch(() => res.writeHead(502).end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxy: JwksProxy = {
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    hits: 0,
    mode: 'pass',
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return proxy
}

/** Starts the resource service against `srv` (through `proxy`), on Bastion's clock. */
export function serviceFor(srv: TestServer, proxy: JwksProxy, started: RunningService[], options: Partial<ResourceServiceOptions> = {}): Promise<RunningService> {
  return startResourceService({
    jwksUrl: proxy.jwksUrl,
    issuer: srv.bastion.config.issuer,
    audience: srv.bastion.config.audience,
    now: srv.clock.now,
    ...options,
  }).then((svc) => {
    started.push(svc)
    return svc
  })
}

/** A native client's access token from `POST /auth/token`. */
export async function bearerToken(srv: TestServer, username?: string): Promise<string> {
  const name = username ?? (await srv.user())
  const res = await nativeRequest(srv, 'POST', '/auth/token', { body: { username: name, password: PASSWORD } })
  if (res.status !== 200) throw new Error(`/auth/token: ${res.status} ${res.text}`)
  return res.body.accessToken as string
}

/** `GET /orders` on the service, with a bearer token when given. */
export async function orders(svc: { url: string }, token?: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}), ...init.headers }
  return toRes(await fetch(`${svc.url}/orders`, { method: init.method ?? 'GET', headers }))
}
