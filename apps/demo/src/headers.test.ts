// Response hardening of the demo bank: a strict CSP for the SPA (no inline
// script), no framing of the transfer form, nosniff, Referrer-Policy, HSTS
// over TLS only, and no-store on every answer that carries identity.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createBastion, type Bastion } from '@bastion/server'
import { sqliteStore } from '@bastion/server/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBankApp, transportHeaders } from './bank.ts'
import { SecurityEvents } from './events.ts'
import { sqliteLedger } from './ledger.ts'

const PUBLIC = resolve(fileURLToPath(new URL('.', import.meta.url)), '../public')

let dir: string
let bastion: Bastion
let app: ReturnType<typeof createBankApp>

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bastion-headers-'))
  bastion = await createBastion({ store: sqliteStore({ file: join(dir, 'b.sqlite') }), secret: 's'.repeat(40), argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
  app = createBankApp({ bastion, ledger: sqliteLedger(':memory:'), events: new SecurityEvents(), publicDir: PUBLIC, clientBundle: join(PUBLIC, 'app.js') })
})
afterAll(async () => {
  await bastion?.close()
  await bastion?.config.store.close?.()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function directives(res: Response): Map<string, string[]> {
  const csp = res.headers.get('content-security-policy') ?? ''
  const map = new Map<string, string[]>()
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/)
    if (name) map.set(name, values)
  }
  return map
}

describe('the SPA page', () => {
  it('has a strict CSP: own scripts only (no inline, no eval, no handlers), no framing, no plugins, no <base>', async () => {
    for (const path of ['/', '/app.js', '/styles.css', '/transfer', '/assets/bastion-client.js']) {
      const res = await app(new Request(`http://localhost:3000${path}`), {})
      expect(res.status, path).toBe(200)
      const csp = directives(res)
      expect(csp.get('default-src'), path).toEqual(["'self'"])
      expect(csp.get('script-src'), path).toEqual(["'self'"])
      expect(csp.get('script-src-attr'), path).toEqual(["'none'"])
      expect(csp.get('style-src'), path).toEqual(["'self'"])
      expect(csp.get('object-src'), path).toEqual(["'none'"])
      expect(csp.get('base-uri'), path).toEqual(["'none'"])
      expect(csp.get('frame-ancestors'), path).toEqual(["'none'"])
      expect(csp.get('form-action'), path).toEqual(["'self'"])
      const all = [...csp.values()].flat().join(' ')
      expect(all).not.toMatch(/unsafe-inline|unsafe-eval|unsafe-hashes|\*|data:.*script|https?:/)
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('referrer-policy')).toBe('same-origin')
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin')
      // Plain HTTP on localhost: no HSTS (browsers would ignore it, and it must not pin localhost).
      expect(res.headers.get('strict-transport-security')).toBeNull()
    }
  })

  it('the page itself obeys that CSP: no inline script, no inline handler or style attribute', () => {
    const html = readFileSync(join(PUBLIC, 'index.html'), 'utf8')
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
    expect(scripts.length).toBeGreaterThan(0)
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/[^"]+"/)
      expect(body!.trim()).toBe('')
    }
    expect(html).not.toMatch(/\son[a-z]+\s*=/i)
    expect(html).not.toMatch(/\sstyle\s*=/i)
    expect(html).not.toMatch(/javascript:/i)
    const js = readFileSync(join(PUBLIC, 'app.js'), 'utf8')
    expect(js).not.toMatch(/\beval\(|new Function\(|\.innerHTML\s*=|insertAdjacentHTML|document\.write/)
  })

  it('sends Strict-Transport-Security when served over TLS, a year on a public host, minutes on localhost', async () => {
    const tls = await app(new Request('https://bank.example.com/'), {})
    expect(tls.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains')
    const local = await app(new Request('https://localhost:3000/'), {})
    expect(local.headers.get('strict-transport-security')).toBe('max-age=300')
    // Behind a TLS proxy the request arrives as http, but the public origin says https.
    expect(transportHeaders(new URL('http://10.0.0.5:3000/'), 'https://bank.example.com')).toEqual({ 'Strict-Transport-Security': 'max-age=31536000; includeSubDomains' })
    expect(transportHeaders(new URL('http://localhost:3000/'), undefined)).toEqual({})
  })
})

describe('answers that carry identity', () => {
  it('every /auth and /api answer, success or refusal, is no-store', async () => {
    const cases: [string, string, RequestInit?][] = [
      ['GET', '/auth/csrf'],
      ['GET', '/auth/session'],
      ['GET', '/auth/sessions'],
      ['POST', '/auth/login', { body: '{}', headers: { 'Content-Type': 'application/json' } }],
      ['POST', '/auth/logout'],
      ['POST', '/auth/refresh'],
      ['GET', '/auth/nope'],
      ['GET', '/api/me'],
      ['GET', '/api/balance'],
      ['POST', '/api/transfer', { body: '{}', headers: { 'Content-Type': 'application/json' } }],
      ['GET', '/api/transfer'],
      ['GET', '/api/public'],
    ]
    for (const [method, path, init] of cases) {
      const request = new Request(`http://localhost:3000${path}`, { method, ...init })
      const res = (await bastion.handle(request)) ?? (await app(request, {}))
      expect({ path, method, cache: res.headers.get('cache-control') }).toEqual({ path, method, cache: 'no-store' })
    }
  })
})
