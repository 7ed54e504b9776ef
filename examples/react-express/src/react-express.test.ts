// examples/react-express: the Express API as `npm start` runs it, called as the
// Vite SPA on another origin calls it (CORS with credentials, the allow-list).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkAuthFlow, startExample, type ExampleProcess } from '../../testing.ts'

const SPA_ORIGIN = 'http://localhost:5173'
let api: ExampleProcess
beforeAll(async () => {
  api = await startExample('react-express', { SPA_ORIGIN })
})
afterAll(async () => {
  await api?.stop()
})

describe('examples/react-express', () => {
  it('logs one ready line with its URL', () => {
    expect(api.url).toMatch(/^http:\/\/localhost:\d+$/)
    expect(api.stdout().trim().split('\n')).toHaveLength(1)
    expect(api.stdout()).toContain(`SPA allowed from ${SPA_ORIGIN}`)
  })

  it('answers the SPA on its origin: preflight, then the CSRF cookie, login, /api/me, notes, devices, logout', async () => {
    const preflight = await fetch(api.url + '/api/notes', {
      method: 'OPTIONS',
      headers: { Origin: SPA_ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-csrf-token' },
    })
    expect(preflight.status).toBeLessThan(300)
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SPA_ORIGIN)
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true')
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-csrf-token')
    await checkAuthFlow(api.url, SPA_ORIGIN)
  })

  it('gives an origin outside the allow-list no CORS grant, and refuses its login', async () => {
    const other = 'http://localhost:5174'
    const preflight = await fetch(api.url + '/auth/login', {
      method: 'OPTIONS',
      headers: { Origin: other, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-csrf-token' },
    })
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
    const csrf = await fetch(api.url + '/auth/csrf', { headers: { Origin: other } })
    expect(csrf.headers.get('access-control-allow-origin')).toBeNull()
    const cookie = csrf.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
    const { csrfToken } = await csrf.json()
    const login = await fetch(api.url + '/auth/login', {
      method: 'POST',
      headers: { Origin: other, 'Sec-Fetch-Site': 'same-site', cookie, 'X-CSRF-Token': csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
    })
    expect(login.status).toBe(403)
    expect((await login.json()).error.code).toBe('forbidden_origin')
  })

  it('exits 0 on SIGTERM', async () => {
    expect(await api.stop(), api.stderr()).toBe(0)
  })
})
