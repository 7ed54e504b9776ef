// Bastion on Express: the same app as the peer stack, with Bastion's
// middleware in front and `requireAuth` on /api/me.
import express from 'express'
import { bastionExpress, requireAuth } from '@bastion/server/express'
import { benchBastion, signInOver } from './common.ts'

const bastion = await benchBastion()

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
