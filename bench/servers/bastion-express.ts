// Bastion on Express: the same app as the hand-built peer, with Bastion's
// middleware in front and `requireAuth` on the API routes.
import { createServer } from 'node:http'
import express from 'express'
import { bastionExpress, requireAuth } from '@bastion/server/express'
import { benchBastion, browserLogin, listen, makeBank } from './common.ts'

const { bastion } = await benchBastion()
const transfer = makeBank()
const app = express()
app.disable('x-powered-by')
app.use(bastionExpress(bastion))
app.get('/api/public', (_req, res) => {
  res.json({ hello: 'world' })
})
app.get('/api/me', requireAuth(bastion), (req, res) => {
  res.json({ user: { id: req.auth!.userId, username: req.auth!.username } })
})
app.post('/api/transfer', requireAuth(bastion), express.json(), (req, res) => {
  const r = transfer(req.auth!.username, req.body)
  res.status(r.status).json(r.body)
})
listen(createServer(app), (url) => browserLogin(url))
