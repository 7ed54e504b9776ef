// examples/react-express in Chromium, as a developer runs it: the SPA built by
// Vite (with VITE_API_URL) and served from its own origin, the Express API
// started by `node server.js` with that origin allowed; the SPA signs in, calls
// the API, posts a note, lists the device and signs out.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import type { Browser } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startExample, type ExampleProcess } from '../../examples/testing.ts'
import { ARTIFACTS, ROOT, launchBrowser, newContext, pageErrors } from '../harness.ts'
import { driveReactExample } from './react-express.drive.ts'

const EXAMPLE = join(ROOT, 'examples/react-express')
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' }

/** What `vite preview` does: the built files, and index.html for everything else. */
function staticServer(dir: string): Server {
  return createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '')
    let body: Buffer
    let type = TYPES[extname(path)]
    try {
      if (!type) throw new Error('not a file')
      body = readFileSync(join(dir, path))
    } catch {
      body = readFileSync(join(dir, 'index.html'))
      type = TYPES['.html']
    }
    res.writeHead(200, { 'content-type': type! }).end(body)
  })
}

let spa: Server
let spaOrigin: string
let api: ExampleProcess
let browser: Browser
const outDir = mkdtempSync(join(tmpdir(), 'bastion-react-express-spa-'))

beforeAll(async () => {
  // The SPA's origin first: the API must allow it, and the build must know the API's URL.
  spa = staticServer(outDir)
  await new Promise<void>((r) => spa.listen(0, 'localhost', r))
  spaOrigin = `http://localhost:${(spa.address() as AddressInfo).port}`
  api = await startExample('react-express', { SPA_ORIGIN: spaOrigin })
  process.env.VITE_API_URL = api.url
  try {
    await build({ root: EXAMPLE, mode: 'production', logLevel: 'warn', build: { outDir, emptyOutDir: true } })
  } finally {
    delete process.env.VITE_API_URL
  }
  browser = await launchBrowser()
})

afterAll(async () => {
  await browser?.close()
  spa?.close()
  rmSync(outDir, { recursive: true, force: true })
  if (api) expect(await api.stop(), api.stderr()).toBe(0)
})

describe('examples/react-express in Chromium', () => {
  it('signs in, shows the user from /api/me, posts a note, lists one device, signs out', async () => {
    expect(readFileSync(join(outDir, 'index.html'), 'utf8')).toContain('/assets/')
    const context = await newContext(browser)
    const page = await context.newPage()
    const errors = pageErrors(page)
    await driveReactExample(page, spaOrigin + '/', join(ARTIFACTS, 'react-express.png'))
    expect(errors).toEqual([])
    // The page never held a token that authenticates: only the CSRF cookie is script-readable.
    const cookies = await page.evaluate(() => document.cookie)
    expect(cookies).not.toMatch(/__Host-access|__Secure-refresh|eyJ/)
    await context.close()
  })
})
