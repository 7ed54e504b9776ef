import { describe, expect, it } from 'vitest'
import { ATTACKS, createAttackerApp, type Observation } from './attacker.ts'

const BANK = 'http://localhost:3000'
const ATTACKER = 'http://127.0.0.1:3001'

const observation: Observation = {
  balances: { alice: 100000, mallory: 0 },
  events: [
    { at: '2025-01-01T00:00:00.000Z', method: 'POST', path: '/api/transfer', status: 403, code: 'csrf_failed', reason: 'missing X-CSRF-Token' },
  ],
}

const app = createAttackerApp({ bankOrigin: BANK, observe: () => observation })
const get = (path: string, init?: RequestInit) => app(new Request(ATTACKER + path, init))

const NAMES = ['form', 'multipart', 'text-plain', 'fetch-no-cors', 'img', 'navigation', 'login-csrf']

function cspDirectives(res: Response): Map<string, string[]> {
  const csp = res.headers.get('content-security-policy')
  expect(csp).toBeTruthy()
  const map = new Map<string, string[]>()
  for (const part of csp!.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/)
    if (name) map.set(name, values)
  }
  return map
}

describe('attacker app', () => {
  it('serves the page as HTML with a strict CSP', async () => {
    const res = await get('/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html;\s*charset=utf-8$/i)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    const csp = cspDirectives(res)
    expect(csp.get('default-src')).toEqual(["'self'"])
    expect(csp.get('script-src')).toEqual(["'self'"])
    expect(csp.get('style-src')).toEqual(["'self'"])
    expect(csp.get('form-action')).toEqual([BANK])
    expect(csp.get('frame-src')).toEqual([BANK])
    expect(csp.get('img-src')).toContain(BANK)
    expect(csp.get('connect-src')).toEqual(["'self'", BANK])
    for (const directives of csp.values()) expect(directives).not.toContain("'unsafe-inline'")

    const html = await res.text()
    expect(html).toMatch(/^<!doctype html>/i)
    expect(html).toContain('Totally legit cat pictures')
    expect(html.toLowerCase()).toContain('demo attacker')
    expect(html).toContain('<script type="module" src="/attacker.js"></script>')
    expect(html).toContain('href="/attacker.css"')
    expect(html).toContain(`data-bank-origin="${BANK}"`)
    // No inline script, inline style or inline handler that the CSP would block.
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i)
    expect(html).not.toMatch(/<style/i)
    expect(html).not.toMatch(/\sstyle=/i)
    expect(html).not.toMatch(/\son[a-z]+=/i)
  })

  it('has one button and one result element per forgery, plus Run all and the balance', async () => {
    const html = await (await get('/')).text()
    expect(ATTACKS.map((a) => a.name)).toEqual(NAMES)
    for (const name of NAMES) {
      expect(html).toContain(`data-attack="${name}"`)
      expect(html).toContain(`data-result="${name}" data-outcome="idle"`)
    }
    expect(html).toContain('id="run-all"')
    expect(html).toContain('id="alice-balance"')
    expect(html).toContain('data-cents=')
  })

  it('serves the script and stylesheet with their content types', async () => {
    const js = await get('/attacker.js')
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(js.headers.get('content-security-policy')).toBeTruthy()
    const source = await js.text()
    // It parses, and it carries every forgery the contract names.
    expect(() => new Function(source)).not.toThrow()
    expect(source).toContain("mode: 'no-cors'")
    expect(source).toContain("credentials: 'include'")
    expect(source).toContain('multipart/form-data')
    expect(source).toContain("'text/plain'")
    expect(source).toContain('{"to":"')
    expect(source).toContain('/auth/login')
    expect(source).toContain('mallory-password-1')
    expect(source).toContain('/observe')

    const css = await get('/attacker.css')
    expect(css.status).toBe(200)
    expect(css.headers.get('content-type')).toMatch(/^text\/css/)
    expect((await css.text()).length).toBeGreaterThan(100)
  })

  it('reports the observation as JSON', async () => {
    const res = await get('/observe')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = (await res.json()) as Observation
    expect(body).toEqual(observation)
    expect(typeof body.balances.alice).toBe('number')
    expect(Array.isArray(body.events)).toBe(true)
  })

  it('accepts an async observer and answers 503 when it fails', async () => {
    const asyncApp = createAttackerApp({ bankOrigin: BANK, observe: async () => observation })
    expect(await (await asyncApp(new Request(ATTACKER + '/observe'))).json()).toEqual(observation)

    const failing = createAttackerApp({
      bankOrigin: BANK,
      observe: () => {
        throw new Error('store down')
      },
    })
    const res = await failing(new Request(ATTACKER + '/observe'))
    expect(res.status).toBe(503)
    const body = (await res.json()) as { error: { code: string } }
    expect(body.error.code).toBe('unavailable')
    expect(JSON.stringify(body)).not.toContain('store down')
  })

  it('answers 404 for anything else', async () => {
    for (const path of ['/nope', '/observe/x', '/attacker.js.map', '/api/transfer', '/favicon.ico']) {
      const res = await get(path)
      expect(res.status, path).toBe(404)
      expect(res.headers.get('content-security-policy')).toBeTruthy()
    }
    const post = await get('/observe', { method: 'POST', body: 'x' })
    expect(post.status).toBe(404)
  })

  it('answers HEAD without a body', async () => {
    const res = await get('/', { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  it('normalises the bank origin and escapes it in the page', async () => {
    const trailing = createAttackerApp({ bankOrigin: 'http://localhost:3000/some/path', observe: () => observation })
    const res = await trailing(new Request(ATTACKER + '/'))
    expect(cspDirectives(res).get('form-action')).toEqual([BANK])
    expect(await res.text()).toContain(`data-bank-origin="${BANK}"`)
    expect(() => createAttackerApp({ bankOrigin: 'not a url', observe: () => observation })).toThrow(TypeError)
  })
})
