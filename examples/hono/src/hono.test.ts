// examples/hono: the Hono app on @hono/node-server as `npm start` runs it, with
// its page and the client's self-contained module.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rawRequest } from '../../../packages/server/src/testing/harness.ts'
import { ALICE, ROOT, checkAuthFlow, ensureClientBuilt, startExample, type ExampleProcess } from '../../testing.ts'

let app: ExampleProcess
beforeAll(async () => {
  ensureClientBuilt()
  app = await startExample('hono')
})
afterAll(async () => {
  await app?.stop()
})

describe('examples/hono', () => {
  it('logs one ready line with its URL', () => {
    expect(app.url).toMatch(/^http:\/\/localhost:\d+$/)
    expect(app.stdout().trim().split('\n')).toHaveLength(1)
  })

  it('serves the page, its script and the client module, and nothing else from disk', async () => {
    const page = await fetch(app.url + '/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await page.text()).toContain('<script type="module" src="/app.js">')
    const script = await fetch(app.url + '/app.js')
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(await script.text()).toContain("from '/bastion-client.js'")
    const client = await fetch(app.url + '/bastion-client.js')
    expect(client.status).toBe(200)
    expect(client.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(await client.text()).toBe(readFileSync(join(ROOT, 'packages/client/dist/index.js'), 'utf8'))
    for (const path of ['/server.js', '/package.json', '/public/app.js', '/index.html']) {
      expect((await fetch(app.url + path)).status, path).toBe(404)
    }
  })

  it('serves the flow same-origin: the CSRF cookie, login, /api/me, notes, devices, logout (first: it counts the devices)', async () => {
    await checkAuthFlow(app.url)
  })

  // @hono/node-server writes Content-Length into a plain-object header init it is handed: a
  // header object shared between answers would carry one answer's length into the next.
  it('gives every answer its own Content-Length (sign-in and two device lists of different lengths)', async () => {
    const port = Number(new URL(app.url).port)
    const seen: Array<{ what: string; declared: number; actual: number }> = []
    // Raw HTTP/1.1, one connection per request: a wrong length cannot derail the next answer.
    const send = async (what: string, method: string, path: string, headers: Record<string, string> = {}, body = '') => {
      const lines = Object.entries({ Host: `localhost:${port}`, Connection: 'close', 'Content-Length': String(Buffer.byteLength(body)), ...headers }).map(([k, v]) => `${k}: ${v}`)
      const res = await rawRequest(port, `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`)
      seen.push({ what, declared: Number(/\r\ncontent-length: (\d+)/i.exec(res.head)?.[1] ?? NaN), actual: Buffer.byteLength(res.body, 'latin1') })
      return res
    }
    const signIn = async (device: string) => {
      const csrf = await send(`${device}: GET /auth/csrf`, 'GET', '/auth/csrf')
      const pre = /set-cookie: (__Host-csrf=[^;]*)/i.exec(csrf.head)![1]!
      const token = JSON.parse(csrf.body).csrfToken
      const login = await send(`${device}: POST /auth/login`, 'POST', '/auth/login', { Cookie: pre, 'X-CSRF-Token': token, 'Content-Type': 'application/json', 'User-Agent': device }, JSON.stringify(ALICE))
      expect(login.status, login.body).toBe(200)
      return [...login.head.matchAll(/set-cookie: (__Host-access=[^;]*)/gi)].map((m) => m[1]).join('; ')
    }
    const laptop = await signIn('laptop')
    await send('GET /auth/sessions (one device)', 'GET', '/auth/sessions', { Cookie: laptop })
    await signIn('a phone with a much longer user agent')
    await send('GET /auth/sessions (two devices)', 'GET', '/auth/sessions', { Cookie: laptop })
    expect(seen.filter((s) => s.declared !== s.actual)).toEqual([])
  })

  it('exits 0 on SIGTERM', async () => {
    expect(await app.stop(), app.stderr()).toBe(0)
  })
})
