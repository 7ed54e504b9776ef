// One origin for everything: Fastify serves the built Vue SPA (dist/), Bastion's
// /auth/* endpoints and the app's /api/*. No CORS, no allow-list needed.
//
//   PORT              default 3000
//   HOST              default localhost (Secure cookies over plain HTTP work on localhost only)
//   BASTION_DATA_DIR  the SQLite file and the generated secret (default ./data)
//   BASTION_SECRET    the secret; required when NODE_ENV=production
import Fastify from 'fastify'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createBastion, resolveSecret } from '@bastion/server'
import { sqliteStore } from '@bastion/server/sqlite'
import { bastionFastify, requireAuth } from '@bastion/server/fastify'

const env = process.env
const PORT = Number(env.PORT ?? 3000)
const HOST = env.HOST || 'localhost'
const DATA_DIR = env.BASTION_DATA_DIR || './data'
const DIST = fileURLToPath(new URL('./dist/', import.meta.url))

const store = sqliteStore({ file: join(DATA_DIR, 'bastion.sqlite') })
const bastion = await createBastion({
  store,
  secret: resolveSecret(env, DATA_DIR),
  log: (event) => event.level !== 'info' && console.error(JSON.stringify(event)),
})
if (!(await bastion.findUser('alice'))) await bastion.createUser('alice', 'alice-password-1')

// The app's own data; in memory here, in your database in a real app.
const notes = new Map() // userId -> [{ id, text, createdAt }]

const app = Fastify({ bodyLimit: 10 * 1024 })
await app.register(bastionFastify(bastion)) // /auth/*, the JWKS: answered before Fastify parses a body

const auth = { preHandler: requireAuth(bastion) }
app.get('/api/me', auth, async (req) => ({ user: { id: req.auth.userId, username: req.auth.username } }))
app.get('/api/notes', auth, async (req) => ({ notes: notes.get(req.auth.userId) ?? [] }))
// A state-changing route: requireAuth has checked the CSRF header and the Origin before the handler runs.
app.post('/api/notes', auth, async (req, reply) => {
  const text = typeof req.body?.text === 'string' ? req.body.text.trim() : ''
  if (!text || text.length > 500) return reply.code(400).send({ error: { code: 'bad_request', message: 'text: 1 to 500 characters' } })
  const note = { id: crypto.randomUUID(), text, createdAt: new Date().toISOString() }
  notes.set(req.auth.userId, [...(notes.get(req.auth.userId) ?? []), note])
  return reply.code(201).send({ note })
})

// The SPA, as `vite build` writes it: dist/index.html and dist/assets/<name>-<hash>.<ext>. A name is
// matched by a pattern before any file is read, so no path can leave dist/assets.
const TYPES = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2' }
app.get('/assets/:name', async (req, reply) => {
  const { name } = req.params
  const type = TYPES[extname(name)]
  const body = /^[\w.-]+$/.test(name) && type ? await readFile(join(DIST, 'assets', name)).catch(() => null) : null
  if (!body) return reply.code(404).send({ error: { code: 'not_found', message: 'Not found' } })
  // Vite puts a content hash in every asset name: cache it for good.
  return reply.type(type).header('cache-control', 'public, max-age=31536000, immutable').send(body)
})
// index.html for / and any other GET outside /api and /auth (client-side routes).
app.setNotFoundHandler(async (req, reply) => {
  if (req.method !== 'GET' || /^\/(api|auth|assets)(\/|$)/.test(req.url)) {
    return reply.code(404).send({ error: { code: 'not_found', message: 'Not found' } })
  }
  const html = await readFile(join(DIST, 'index.html')).catch(() => null)
  if (!html) return reply.code(503).type('text/plain').send('The SPA is not built: run `npm run build` (`npm start` builds it first).\n')
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html)
})
if (!existsSync(DIST)) console.error('dist/ is missing: run `npm run build` (or `npm start`, which builds first) to serve the SPA')

const stop = async () => {
  await app.close()
  await bastion.close()
  await store.close()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

try {
  await app.listen({ port: PORT, host: HOST })
} catch (e) {
  console.error(`server did not start: ${e.message}`)
  process.exit(1)
}
console.log(`listening on http://${HOST}:${app.server.address().port}`)
