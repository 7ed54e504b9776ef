import axios, { AxiosError, type AxiosInstance } from 'axios'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createAuthClient, type AuthClient } from './index.ts'
import { startFakeServer, type FakeServer } from './testing/fake-server.ts'
import { CookieJar } from './testing/jar.ts'

const alice = { username: 'alice', password: 'alice-password-1' }
let server: FakeServer
let auth: AuthClient
let http: AxiosInstance
let eject: () => void

beforeEach(async () => {
  server = await startFakeServer({ refreshDelayMs: 30 })
  const jar = new CookieJar()
  auth = createAuthClient({ baseUrl: server.url, fetch: jar.fetch, channelName: 'axios-test' })
  http = axios.create({ baseURL: server.url })
  // Node has no cookie store: play the browser's for axios too (the jar is shared with the client).
  http.interceptors.request.use((config) => {
    config.headers.set('cookie', jar.header())
    return config
  })
  eject = auth.installAxios(http) // a real AxiosInstance fits the structural type, no cast
  await auth.login(alice)
})
afterEach(async () => {
  auth.close()
  await server.close()
})

describe('installAxios', () => {
  it('sets withCredentials and the CSRF header on unsafe methods only', async () => {
    const res = await http.get('/api/me')
    expect(res.config.withCredentials).toBe(true)
    await http.post('/api/echo', { a: 1 })
    expect(server.requests('GET', '/api/me')[0]?.csrf).toBeUndefined()
    expect(server.requests('POST', '/api/echo')[0]?.csrf).toMatch(/^m\./)
  })

  it('refreshes once and replays; concurrent 401s share one refresh', async () => {
    server.expireAccess()
    const results = await Promise.all([
      http.post('/api/echo', { amount: 5 }),
      ...Array.from({ length: 9 }, () => http.get('/api/me')),
    ])
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200))
    expect(results[0]?.data).toEqual({ method: 'POST', body: '{"amount":5}' })
    expect(server.state.refreshCount).toBe(1)
  })

  it('replays at most once: a second 401 is thrown', async () => {
    const error = await http.get('/api/always-expired').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AxiosError)
    expect((error as AxiosError).response?.status).toBe(401)
    expect(server.state.refreshCount).toBe(1)
    expect(server.requests('GET', '/api/always-expired')).toHaveLength(2)
  })

  it('retries once on csrf_failed with a fresh token', async () => {
    const gets = server.state.csrfGets
    server.state.csrfFailNext = 1
    expect((await http.post('/api/echo', {})).status).toBe(200)
    expect(server.state.csrfGets).toBe(gets + 1)
    server.state.csrfFailNext = 5
    const error = await http.post('/api/echo', {}).catch((e: unknown) => e)
    expect((error as AxiosError).response?.status).toBe(403)
    expect(server.requests('POST', '/api/echo')).toHaveLength(4)
  })

  it('a failed refresh signs the client out', async () => {
    server.expireAccess()
    server.state.failRefresh = true
    await expect(http.get('/api/me')).rejects.toBeInstanceOf(AxiosError)
    expect(auth.getState().status).toBe('signed-out')
  })

  it('eject removes both interceptors', async () => {
    eject()
    const error = await http.post('/api/echo', {}).catch((e: unknown) => e)
    expect((error as AxiosError).response?.status).toBe(403) // no CSRF header any more
  })
})
