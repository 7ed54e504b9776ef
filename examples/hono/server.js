// A Hono app on Node: Bastion's /auth/* endpoints, the app's /api/*, and a page
// (public/) that imports the browser client as one ES module, no bundler.
//
//   PORT              default 3000
//   HOST              default localhost (Secure cookies over plain HTTP work on localhost only)
//   BASTION_DATA_DIR  the SQLite file and the generated secret (default ./data)
//   BASTION_SECRET    the secret; required when NODE_ENV=production
import { Hono } from 'hono'
import { serve } from '@hono/node-server'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createBastion, resolveSecret } from '@bastion/server'
import { sqliteStore } from '@bastion/server/sqlite'
import { bastionHono, requireAuth } from '@bastion/server/hono'

const env = process.env
const PORT = Number(env.PORT ?? 3000)
const HOST = env.HOST || 'localhost'
const DATA_DIR = env.BASTION_DATA_DIR || './data'

// The client's self-contained browser build: node_modules/@bastion/client/dist/index.js.
const CLIENT_BUNDLE = join(dirname(createRequire(import.meta.url).resolve('@bastion/client/package.json')), 'dist/index.js')
if (!existsSync(CLIENT_BUNDLE)) {
  console.error(`server did not start: ${CLIENT_BUNDLE} is missing (inside the Bastion repository: npm run build at its root)`)
  process.exit(1)
}

const store = sqliteStore({ file: join(DATA_DIR, 'bastion.sqlite') })
const bastion = await createBastion({
  store,
  secret: resolveSecret(env, DATA_DIR),
  log: (event) => event.level !== 'info' && console.error(JSON.stringify(event)),
})
if (!(await bastion.findUser('alice'))) await bastion.createUser('alice', 'alice-password-1')

// The app's own data; in memory here, in your database in a real app.
const notes = new Map() // userId -> [{ id, text, createdAt }]

const app = new Hono()
app.use('*', bastionHono(bastion)) // /auth/*, the JWKS

app.get('/api/me', requireAuth(bastion), (c) => {
  const auth = c.get('auth')
  return c.json({ user: { id: auth.userId, username: auth.username } })
})
app.get('/api/notes', requireAuth(bastion), (c) => c.json({ notes: notes.get(c.get('auth').userId) ?? [] }))
// A state-changing route: requireAuth has checked the CSRF header and the Origin before the handler runs.
app.post('/api/notes', requireAuth(bastion), async (c) => {
  const body = await c.req.json().catch(() => null)
  const text = typeof body?.text === 'string' ? body.text.trim() : ''
  if (!text || text.length > 500) return c.json({ error: { code: 'bad_request', message: 'text: 1 to 500 characters' } }, 400)
  const userId = c.get('auth').userId
  const note = { id: crypto.randomUUID(), text, createdAt: new Date().toISOString() }
  notes.set(userId, [...(notes.get(userId) ?? []), note])
  return c.json({ note }, 201)
})

// The page: three files, named one by one (nothing else on disk is reachable).
const file = (path, type) => (c) => c.body(readFileSync(path), 200, { 'content-type': type, 'cache-control': 'no-cache' })
const here = (name) => new URL(`./public/${name}`, import.meta.url)
app.get('/', file(here('index.html'), 'text/html; charset=utf-8'))
app.get('/app.js', file(here('app.js'), 'text/javascript; charset=utf-8'))
app.get('/bastion-client.js', file(CLIENT_BUNDLE, 'text/javascript; charset=utf-8'))
app.notFound((c) => c.json({ error: { code: 'not_found', message: 'Not found' } }, 404))

const server = serve({ fetch: app.fetch, port: PORT, hostname: HOST }, (info) => {
  console.log(`listening on http://${HOST}:${info.port}`)
})
server.on('error', (e) => {
  console.error(`server did not start: ${e.message}`)
  process.exit(1)
})

function stop() {
  server.closeAllConnections?.()
  server.close(async () => {
    await bastion.close()
    await store.close()
    process.exit(0)
  })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
