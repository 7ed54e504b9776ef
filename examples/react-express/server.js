// The API: Express with Bastion in front. The SPA runs elsewhere (Vite on :5173)
// and calls this origin with credentials, so its origin is in allowedOrigins.
//
//   PORT              where the API listens (default 3000)
//   HOST              default localhost (Secure cookies over plain HTTP work on localhost only)
//   SPA_ORIGIN        the SPA's origin, allowed to call with credentials (default http://localhost:5173)
//   BASTION_DATA_DIR  the SQLite file and the generated secret (default ./data)
//   BASTION_SECRET    the secret; required when NODE_ENV=production
import express from 'express'
import { join } from 'node:path'
import { createBastion, resolveSecret } from '@bastion/server'
import { sqliteStore } from '@bastion/server/sqlite'
import { bastionExpress, requireAuth } from '@bastion/server/express'

const env = process.env
const PORT = Number(env.PORT ?? 3000)
const HOST = env.HOST || 'localhost'
const SPA_ORIGIN = env.SPA_ORIGIN || 'http://localhost:5173'
const DATA_DIR = env.BASTION_DATA_DIR || './data'

const store = sqliteStore({ file: join(DATA_DIR, 'bastion.sqlite') })
const bastion = await createBastion({
  store,
  secret: resolveSecret(env, DATA_DIR),
  allowedOrigins: [SPA_ORIGIN],
  log: (event) => event.level !== 'info' && console.error(JSON.stringify(event)),
})
if (!(await bastion.findUser('alice'))) await bastion.createUser('alice', 'alice-password-1')

// The app's own data; in memory here, in your database in a real app.
const notes = new Map() // userId -> [{ id, text, createdAt }]

const app = express()
app.disable('x-powered-by')
app.use(bastionExpress(bastion)) // /auth/*, the JWKS, CORS for SPA_ORIGIN: before any body parser

app.get('/api/me', requireAuth(bastion), (req, res) => {
  res.json({ user: { id: req.auth.userId, username: req.auth.username } })
})
app.get('/api/notes', requireAuth(bastion), (req, res) => {
  res.json({ notes: notes.get(req.auth.userId) ?? [] })
})
// A state-changing route: requireAuth has checked the CSRF header and the Origin before the handler runs.
app.post('/api/notes', requireAuth(bastion), express.json({ limit: '10kb' }), (req, res) => {
  const text = typeof req.body?.text === 'string' ? req.body.text.trim() : ''
  if (!text || text.length > 500) {
    res.status(400).json({ error: { code: 'bad_request', message: 'text: 1 to 500 characters' } })
    return
  }
  const note = { id: crypto.randomUUID(), text, createdAt: new Date().toISOString() }
  notes.set(req.auth.userId, [...(notes.get(req.auth.userId) ?? []), note])
  res.status(201).json({ note })
})

const server = app.listen(PORT, HOST, () => {
  const { port } = server.address()
  console.log(`API listening on http://${HOST}:${port} (SPA allowed from ${SPA_ORIGIN})`)
})
server.on('error', (e) => {
  console.error(`API did not start: ${e.message}`)
  process.exit(1)
})

function stop() {
  server.closeAllConnections()
  server.close(async () => {
    await bastion.close()
    await store.close()
    process.exit(0)
  })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
