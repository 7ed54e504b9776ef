// The peer: the stack tutorials teach. Express, cookie-parser and
// jsonwebtoken verifying an HS256 JWT from a cookie on every request.
import cookieParser from 'cookie-parser'
import express from 'express'
import jwt from 'jsonwebtoken'

const SECRET = 'peer-secret-peer-secret-peer-secret-0000'
const app = express()
app.disable('x-powered-by')
app.use(cookieParser())
app.get('/api/public', (_req, res) => {
  res.json({ hello: 'world' })
})
app.get('/api/me', (req, res) => {
  try {
    const claims = jwt.verify(String(req.cookies.access ?? ''), SECRET, { algorithms: ['HS256'] }) as { sub: string; name: string }
    res.json({ user: { id: claims.sub, username: claims.name } })
  } catch {
    res.status(401).json({ error: { code: 'unauthenticated' } })
  }
})
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  const token = jwt.sign({ sub: 'u1', name: 'alice' }, SECRET, { algorithm: 'HS256', expiresIn: 3600 })
  process.stdout.write(JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}`, cookie: `access=${token}` }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
