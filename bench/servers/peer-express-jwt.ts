// Peer 1: the stack the tutorials build by hand. Express, cookie-parser,
// jsonwebtoken verifying an HS256 JWT from an HttpOnly cookie on every request,
// csrf-csrf (signed double submit, bound to the session) on state-changing
// routes. Written as the tutorials write it: the secret passed to
// `jwt.verify` as a string. `/api/me-keyobject` passes a KeyObject instead,
// as a careful user would (jsonwebtoken then skips rebuilding a key per call).
import { createSecretKey } from 'node:crypto'
import { createServer } from 'node:http'
import cookieParser from 'cookie-parser'
import { doubleCsrf } from 'csrf-csrf'
import express, { type NextFunction, type Request, type Response } from 'express'
import jwt from 'jsonwebtoken'
import { listen, makeBank } from './common.ts'

const JWT_SECRET = 'peer-secret-peer-secret-peer-secret-0000'
const JWT_KEY = createSecretKey(Buffer.from(JWT_SECRET))
const transfer = makeBank()

const { doubleCsrfProtection, generateCsrfToken } = doubleCsrf({
  getSecret: () => 'peer-csrf-secret-peer-csrf-secret-00000',
  // Bound to the session: the access cookie.
  getSessionIdentifier: (req) => String(req.cookies?.access ?? ''),
  cookieName: '__Host-psifi.x-csrf-token',
  cookieOptions: { sameSite: 'lax', secure: true, path: '/' },
})

type Authed = Request & { user?: { id: string; username: string } }
const authenticate = (secret: string | typeof JWT_KEY) => (req: Authed, res: Response, next: NextFunction) => {
  try {
    const claims = jwt.verify(String(req.cookies.access ?? ''), secret, { algorithms: ['HS256'] }) as { sub: string; name: string }
    req.user = { id: claims.sub, username: claims.name }
    next()
  } catch {
    res.status(401).json({ error: { code: 'unauthenticated' } })
  }
}

const app = express()
app.disable('x-powered-by')
app.use(cookieParser())
app.use(express.json())
app.get('/api/public', (_req, res) => {
  res.json({ hello: 'world' })
})
app.post('/login', (_req, res) => {
  // (Password check elided: only the per-request path is compared here.)
  const token = jwt.sign({ sub: 'u1', name: 'alice' }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 3600 })
  res.cookie('access', token, { httpOnly: true, secure: true, sameSite: 'lax' }).json({ ok: true })
})
app.get('/csrf-token', (req, res) => {
  res.json({ token: generateCsrfToken(req, res) })
})
app.get('/api/me', authenticate(JWT_SECRET), (req: Authed, res) => {
  res.json({ user: req.user })
})
app.get('/api/me-keyobject', authenticate(JWT_KEY), (req: Authed, res) => {
  res.json({ user: req.user })
})
app.post('/api/transfer', authenticate(JWT_SECRET), doubleCsrfProtection, (req: Authed, res) => {
  const r = transfer(req.user!.username, req.body)
  res.status(r.status).json(r.body)
})
app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
  res.status((err as { statusCode?: number }).statusCode ?? 500).json({ error: { code: 'failed' } })
})

listen(createServer(app), async (url) => {
  const login = await fetch(`${url}/login`, { method: 'POST' })
  const access = login.headers.getSetCookie()[0]!.split(';')[0]!
  const csrfRes = await fetch(`${url}/csrf-token`, { headers: { cookie: access } })
  const csrfCookie = csrfRes.headers.getSetCookie()[0]!.split(';')[0]!
  const { token } = (await csrfRes.json()) as { token: string }
  return { cookie: `${access}; ${csrfCookie}`, csrf: token }
})
