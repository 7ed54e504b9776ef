// examples/vue-fastify: the Vue SPA built by Vite into dist/, served with the
// API from one Fastify origin, as `npm start` runs it.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, checkAuthFlow, ensureClientBuilt, startExample, type ExampleProcess } from '../../testing.ts'

const DIR = join(ROOT, 'examples/vue-fastify')
let app: ExampleProcess
beforeAll(async () => {
  ensureClientBuilt()
  await build({ root: DIR, logLevel: 'warn', mode: 'production' }) // `npm run build`: dist/
  app = await startExample('vue-fastify')
})
afterAll(async () => {
  await app?.stop()
})

describe('examples/vue-fastify', () => {
  it('logs one ready line with its URL', () => {
    expect(app.url).toMatch(/^http:\/\/localhost:\d+$/)
    expect(app.stdout().trim().split('\n')).toHaveLength(1)
  })

  it('serves the built SPA: index.html, its hashed assets, index.html for client-side routes; nothing else', async () => {
    const index = await fetch(app.url + '/')
    expect(index.status).toBe(200)
    expect(index.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await index.text()
    expect(html).toBe(readFileSync(join(DIR, 'dist/index.html'), 'utf8'))
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    expect(script).toBeDefined()
    const js = await fetch(app.url + script)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(js.headers.get('cache-control')).toContain('immutable')
    expect(await js.text()).toContain('/api/notes')
    expect(await (await fetch(app.url + '/notes/some-route')).text()).toBe(html)
    expect((await fetch(app.url + '/assets/..%2F..%2Fserver.js')).status).toBe(404)
    expect((await fetch(app.url + '/assets/missing.js')).status).toBe(404)
    const api404 = await fetch(app.url + '/api/nothing')
    expect(api404.status).toBe(404)
    expect((await api404.json()).error.code).toBe('not_found')
  })

  it('serves the flow same-origin: the CSRF cookie, login, /api/me, notes, devices, logout', async () => {
    await checkAuthFlow(app.url)
  })

  it('exits 0 on SIGTERM', async () => {
    expect(await app.stop(), app.stderr()).toBe(0)
  })
})
