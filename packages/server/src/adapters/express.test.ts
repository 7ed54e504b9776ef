import { createServer } from 'node:http'
import express, { type Express } from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Bastion } from '../bastion.ts'
import { ALICE, client, CookieJar, createTestBastion, describeAdapterConformance, listen, type StartedApp } from './conformance.ts'
import { bastionExpress, requireAuth } from './express.ts'

function routes(app: Express, bastion: Bastion): Express {
  app.get('/api/me', requireAuth(bastion), (req, res) => {
    res.json({ user: { id: req.auth!.userId, username: req.auth!.username } })
  })
  app.post('/api/echo', requireAuth(bastion), express.json(), (req, res) => {
    res.json({ ok: true, body: req.body })
  })
  return app
}

describeAdapterConformance('express', async (bastion) => {
  const app = express()
  app.use(bastionExpress(bastion))
  return listen(createServer(routes(app, bastion)))
})

describe('express: Bastion mounted after express.json()', () => {
  let app: StartedApp
  let cleanup: () => Promise<void>
  const call = client(() => app.url)

  beforeAll(async () => {
    const made = await createTestBastion()
    cleanup = made.cleanup
    const server = express()
    server.use(express.json())
    server.use(bastionExpress(made.bastion))
    app = await listen(createServer(routes(server, made.bastion)))
  })
  afterAll(async () => {
    await app?.close()
    await cleanup?.()
  })

  it('still signs in from the already-parsed body, and the app still gets its body', async () => {
    const jar = new CookieJar()
    const { csrfToken } = (await (await call('/auth/csrf', { jar })).json()) as { csrfToken: string }
    const login = await call('/auth/login', { jar, csrf: csrfToken, body: ALICE })
    expect(login.status).toBe(200)
    expect(login.headers.getSetCookie()).toHaveLength(3)
    const { csrfToken: csrf } = (await login.json()) as { csrfToken: string }

    const echo = await call('/api/echo', { jar, csrf, body: { n: 42 } })
    expect(echo.status).toBe(200)
    expect(await echo.json()).toEqual({ ok: true, body: { n: 42 } })

    const refresh = await call('/auth/refresh', { jar, csrf, method: 'POST' })
    expect(refresh.status).toBe(200)
    const logout = await call('/auth/logout', { jar, csrf, method: 'POST' })
    expect(logout.status).toBe(204)
  })

  it('re-checks the size of a re-serialized body', async () => {
    const jar = new CookieJar()
    const { csrfToken } = (await (await call('/auth/csrf', { jar })).json()) as { csrfToken: string }
    const res = await call('/auth/login', { jar, csrf: csrfToken, body: { username: 'alice', password: 'p'.repeat(20 * 1024) } })
    expect(res.status).toBe(413)
  })
})
