/**
 * A small OpenID provider that can misbehave, for the attacks a certified
 * provider will not perform: ID tokens with a wrong `nonce`, `aud` or `iss`,
 * `alg: none`, HS256 keyed with the provider's public key, a key not in its
 * JWKS, or expired. node:http + jose; discovery, JWKS and a token endpoint
 * (which checks the PKCE verifier, like a real one).
 */
import { createHash, createHmac } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose'

export type IdTokenMode = 'good' | 'wrong-nonce' | 'wrong-aud' | 'wrong-iss' | 'expired' | 'alg-none' | 'hs256-public-key' | 'foreign-key' | 'no-id-token'

export interface FakeOidc {
  issuer: string
  clientId: string
  clientSecret: string
  /** What the next token request answers. */
  mode: IdTokenMode
  /** The provider's side of the authorization step, without a browser: the callback URL (code, state, iss) for this authorization URL. */
  authorize(authorizationUrl: string, sub: string, claims?: Record<string, unknown>): URL
  /** Token requests received. */
  tokenRequests: number
  close(): Promise<void>
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

export async function startFakeOidc(): Promise<FakeOidc> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
  const foreign = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  const pem = await exportSPKI(publicKey)
  const codes = new Map<string, { sub: string; nonce: string; challenge: string; claims: Record<string, unknown> }>()
  let codeSeq = 0
  const tokens = new Map<string, { id: number; sub: string; claims: Record<string, unknown> }>()

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', fake.issuer)
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
      res.end(JSON.stringify(body))
    }
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(200, {
        issuer: fake.issuer,
        authorization_endpoint: `${fake.issuer}/authorize`,
        token_endpoint: `${fake.issuer}/token`,
        jwks_uri: `${fake.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
      })
    }
    if (url.pathname === '/jwks') return send(200, { keys: [jwk] })
    if (url.pathname === '/user') {
      // GitHub-style userinfo: a numeric id, a login, no `sub`.
      const grant = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
      if (!grant) return send(401, { message: 'Bad credentials' })
      return send(200, { id: grant.id, login: grant.sub, name: 'Octo Cat', email: grant.claims.email ?? null })
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let raw = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (raw += c))
      req.on('end', () => {
        void (async () => {
          fake.tokenRequests++
          const form = new URLSearchParams(raw)
          const grant = codes.get(form.get('code') ?? '')
          codes.delete(form.get('code') ?? '')
          const verifier = form.get('code_verifier') ?? ''
          if (!grant || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
            return send(400, { error: 'invalid_grant' })
          }
          const now = Math.floor(Date.now() / 1000)
          const payload: JWTPayload = { iss: fake.issuer, sub: grant.sub, aud: fake.clientId, iat: now, exp: now + 300, nonce: grant.nonce, ...grant.claims }
          const m = fake.mode
          if (m === 'wrong-nonce') payload.nonce = 'not-the-nonce'
          if (m === 'wrong-aud') payload.aud = 'another-client'
          if (m === 'wrong-iss') payload.iss = 'https://evil.example'
          if (m === 'expired') Object.assign(payload, { iat: now - 4000, exp: now - 3600 })
          let idToken: string | undefined
          if (m === 'alg-none') idToken = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`
          else if (m === 'hs256-public-key') {
            // The classic confusion: a verifier that takes the alg from the token would check this HMAC with the public key.
            const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'k1' })}.${b64(payload)}`
            idToken = `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`
          } else if (m === 'foreign-key') idToken = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(foreign.privateKey)
          else if (m !== 'no-id-token') idToken = await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey)
          const accessToken = `at-${++codeSeq}`
          tokens.set(accessToken, { id: 1000 + codeSeq, sub: grant.sub, claims: grant.claims })
          send(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, scope: 'openid email profile', ...(idToken ? { id_token: idToken } : {}) })
        })()
      })
      return
    }
    send(404, { error: 'not_found' })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const fake: FakeOidc = {
    issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    clientId: 'fake-client',
    clientSecret: 'fake-client-secret-0123456789abcdef',
    mode: 'good',
    tokenRequests: 0,
    authorize(authorizationUrl, sub, claims = {}) {
      const u = new URL(authorizationUrl)
      const code = `code-${++codeSeq}`
      codes.set(code, { sub, nonce: u.searchParams.get('nonce') ?? '', challenge: u.searchParams.get('code_challenge') ?? '', claims })
      const cb = new URL(u.searchParams.get('redirect_uri')!)
      cb.searchParams.set('code', code)
      cb.searchParams.set('state', u.searchParams.get('state') ?? '')
      cb.searchParams.set('iss', fake.issuer)
      return cb
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return fake
}
