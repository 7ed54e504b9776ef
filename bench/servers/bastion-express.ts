// Bastion on Express: the same app as the peer stack, with Bastion's
// middleware in front and `requireAuth` on /api/me.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express from 'express'
import { createBastion } from '@bastion/server'
import { bastionExpress, requireAuth } from '@bastion/server/express'
import { sqliteStore } from '@bastion/server/sqlite'
import { signInOver } from './sign-in.ts'

const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-'))
const bastion = await createBastion({
  store: sqliteStore({ file: join(dir, 'bastion.sqlite') }),
  secret: 'bench-secret-bench-secret-bench-secret-0',
  accessTtl: 3600,
  argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
})
await bastion.createUser('alice', 'alice-password-1')

const app = express()
app.disable('x-powered-by')
app.use(bastionExpress(bastion))
app.get('/api/public', (_req, res) => {
  res.json({ hello: 'world' })
})
app.get('/api/me', requireAuth(bastion), (req, res) => {
  res.json({ user: { id: req.auth!.userId, username: req.auth!.username } })
})
const server = app.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  process.stdout.write(JSON.stringify({ ready: true, url, ...(await signInOver(url)) }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
