// examples/vue-fastify and examples/hono in Chromium: each serves its page and
// its API from one origin; the same steps as the React example (the three
// pages share their element ids), driven by the same function.
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startExample, type ExampleProcess } from '../../examples/testing.ts'
import { ARTIFACTS, ROOT, launchBrowser, newContext, pageErrors } from '../harness.ts'
import { driveReactExample as driveExample } from './react-express.drive.ts'

let browser: Browser
beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})

for (const name of ['vue-fastify', 'hono'] as const) {
  describe(`examples/${name} in Chromium`, () => {
    let app: ExampleProcess
    beforeAll(async () => {
      if (name === 'vue-fastify') await build({ root: join(ROOT, 'examples', name), mode: 'production', logLevel: 'warn' }) // `npm start` builds dist/ first
      app = await startExample(name)
    })
    afterAll(async () => {
      if (app) expect(await app.stop(), app.stderr()).toBe(0)
    })

    it('signs in, shows the user from /api/me, posts a note, lists one device, signs out', async () => {
      const context = await newContext(browser)
      const page = await context.newPage()
      const errors = pageErrors(page)
      await driveExample(page, app.url + '/', join(ARTIFACTS, `${name}.png`))
      expect(errors).toEqual([])
      await context.close()
    })
  })
}
