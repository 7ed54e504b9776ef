/**
 * A real upstream API for the gateway's tests, on its own port: it trusts
 * nothing but Bastion's JWKS (jose's createRemoteJWKSet), counts and records
 * every request it sees, and has routes that misbehave on demand (slow,
 * setting Bastion's cookies, streaming, redirecting).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'

export interface SeenRequest {
  method: string
  /** Path and query as received. */
  url: string
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  bodyBytes: number
  body: string
  /** The verified bearer token's claims, or the reason it failed. */
  claims: JWTPayload | null
  tokenError: string | null
}

export interface Upstream {
  url: string
  port: number
  seen: SeenRequest[]
  close(): Promise<void>
}

export interface UpstreamOptions {
  /** Bastion's JWKS URL, asked on first use (the upstream starts before Bastion, which must know its port). */
  jwksUrl: () => string
  issuer: string
  audience: string
  /** Clock for `exp` (the test server's). */
  now?: () => number
}

export async function startUpstream(options: UpstreamOptions): Promise<Upstream> {
  let remote: ReturnType<typeof createRemoteJWKSet> | undefined
  const jwks: JWTVerifyGetKey = (header, token) => (remote ??= createRemoteJWKSet(new URL(options.jwksUrl()), { cooldownDuration: 0 }))(header, token)
  const seen: SeenRequest[] = []
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = []
    let bodyBytes = 0
    const path = (req.url ?? '/').split('?')[0]!
    const keep = !path.startsWith('/upload-count')
    try {
      for await (const c of req) {
        bodyBytes += c.length
        if (keep) chunks.push(c as Buffer)
      }
    } catch {
      return
    }
    let claims: JWTPayload | null = null
    let tokenError: string | null = null
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')
    if (!m) tokenError = 'no bearer'
    else {
      try {
        ;({ payload: claims } = await jwtVerify(m[1]!, jwks, {
          issuer: options.issuer,
          audience: options.audience,
          typ: 'at+jwt',
          algorithms: ['EdDSA', 'ES256'],
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
          currentDate: options.now ? new Date(options.now()) : undefined,
        }))
      } catch (e) {
        tokenError = String(e)
      }
    }
    const entry: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes, body: Buffer.concat(chunks).toString('utf8'), claims, tokenError }
    seen.push(entry)
    if (!claims) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' })
      res.end(JSON.stringify({ error: { code: 'unauthenticated', message: tokenError } }))
      return
    }
    const url = new URL(req.url ?? '/', 'http://upstream')
    if (path === '/slow') {
      const ms = Number(url.searchParams.get('ms') ?? 1000)
      const timer = setTimeout(() => {
        if (!res.destroyed) res.end(JSON.stringify({ late: true }))
      }, ms)
      res.once('close', () => clearTimeout(timer))
      return
    }
    if (path === '/stall-body') {
      // Headers at once, then a first chunk, then nothing: the gateway's idle timer must cut it.
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first chunk\n')
      return
    }
    if (path === '/set-cookie') {
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': ['__Host-access=planted; Path=/; Secure; HttpOnly', '__host-ACCESS=planted2; Path=/; Secure', '__Secure-refresh=planted; Path=/auth; Secure', '__Host-csrf=planted; Path=/; Secure', 'upstream-pref=dark; Path=/'],
        'access-control-allow-origin': 'https://evil.example',
        'access-control-allow-credentials': 'true',
        connection: 'x-upstream-secret',
        'x-upstream-secret': 'hop',
        'keep-alive': 'timeout=5',
      })
      res.end(JSON.stringify({ ok: true }))
      return
    }
    if (path === '/redirect') {
      res.writeHead(302, { location: '/landing?x=1' })
      res.end()
      return
    }
    if (path === '/stream') {
      const n = Number(url.searchParams.get('chunks') ?? 5)
      res.writeHead(200, { 'content-type': 'text/plain' })
      let i = 0
      const tick = () => {
        if (res.destroyed) return
        if (i++ >= n) return void res.end()
        res.write(`chunk ${i}\n`)
        setTimeout(tick, 20)
      }
      tick()
      return
    }
    const text = JSON.stringify({ method: entry.method, url: entry.url, sub: claims.sub, aud: claims.aud, bodyBytes, body: keep ? entry.body : undefined })
    res.writeHead(path === '/created' ? 201 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  })
  server.headersTimeout = 10_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A loopback port with nothing listening (bound, then released): an upstream that is down. */
export async function deadPort(): Promise<number> {
  const s = http.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}
