// The peer: the stack tutorials teach. Express, cookie-parser and
// jsonwebtoken verifying an HS256 JWT from a cookie on every request.
// `/api/me` passes the secret as a string, as the tutorials do (jsonwebtoken
// then rebuilds a key on every call); `/api/me-keyobject` passes a KeyObject,
// as a careful user would.
import { createSecretKey } from 'node:crypto'
import cookieParser from 'cookie-parser'
import express from 'express'
import jwt from 'jsonwebtoken'

const SECRET = 'peer-secret-peer-secret-peer-secret-0000'
const KEY = createSecretKey(Buffer.from(SECRET))
const app = express()
app.disable('x-powered-by')
app.use(cookieParser())
app.get('/api/public', (_req, res) => {
  res.json({ hello: 'world' })
})
for (const [path, secret] of [['/api/me', SECRET], ['/api/me-keyobject', KEY]] as const) {
  app.get(path, (req, res) => {
    try {
      const claims = jwt.verify(String(req.cookies.access ?? ''), secret, { algorithms: ['HS256'] }) as { sub: string; name: string }
      res.json({ user: { id: claims.sub, username: claims.name } })
    } catch {
      res.status(401).json({ error: { code: 'unauthenticated' } })
    }
  })
}
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  const token = jwt.sign({ sub: 'u1', name: 'alice' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 })
  process.stdout.write(JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}`, cookie: `access=${token}` }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
