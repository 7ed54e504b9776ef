import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError, createAuthClient, type AuthClient, type AuthClientOptions, type AuthState } from './index.ts'
import { startFakeServer, type FakeServer, type FakeServerOptions } from './testing/fake-server.ts'
import { CookieJar } from './testing/jar.ts'

const alice = { username: 'alice', password: 'alice-password-1' }
let server: FakeServer
let clients: AuthClient[] = []
let channel = 0

async function setup(serverOptions: FakeServerOptions = {}) {
  server = await startFakeServer(serverOptions)
}

/** A "tab": its own client on a jar (shared jar = same browser). Cross-origin baseUrl: body tokens. */
function tab(jar: CookieJar, options: AuthClientOptions = {}, channelName = `t${channel}`) {
  const client = createAuthClient({ baseUrl: server.url, fetch: jar.fetch, channelName, ...options })
  clients.push(client)
  return client
}

const until = async (check: () => boolean, ms = 2000) => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

beforeEach(() => {
  channel++
})
afterEach(async () => {
  clients.forEach((c) => c.close())
  clients = []
  vi.unstubAllGlobals()
  await server?.close()
})

describe('CSRF', () => {
  it('sends the header on unsafe methods only, with credentials', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.login(alice)
    expect((await auth.fetch('/api/me')).status).toBe(200)
    expect((await auth.fetch('/api/echo', { method: 'HEAD' })).status).toBe(200)
    const res = await auth.fetch('/api/echo', { method: 'POST', body: '{"a":1}' })
    expect(await res.json()).toEqual({ method: 'POST', body: '{"a":1}' })
    expect((await auth.fetch('/api/echo', { method: 'delete' })).status).toBe(200)
    expect(server.requests('GET', '/api/me')[0]?.csrf).toBeUndefined()
    expect(server.requests('HEAD', '/api/echo')[0]?.csrf).toBeUndefined()
    expect(server.requests('POST', '/api/echo')[0]?.csrf).toMatch(/^m\./)
    expect(server.requests('DELETE', '/api/echo')[0]?.csrf).toMatch(/^m\./)
  })

  it('sends a JSON string body as application/json unless a type is given (as the contract shows it used)', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.login(alice)
    await auth.fetch('/api/echo', { method: 'POST', body: JSON.stringify({ to: 'mallory', amount: 1 }) })
    await auth.fetch('/api/echo', { method: 'PUT', body: 'plain words' })
    await auth.fetch('/api/echo', { method: 'PATCH', body: '{"a":1}', headers: { 'Content-Type': 'application/merge-patch+json' } })
    expect(server.requests('POST', '/api/echo')[0]?.contentType).toBe('application/json')
    expect(server.requests('PUT', '/api/echo')[0]?.contentType).toMatch(/^text\/plain/)
    expect(server.requests('PATCH', '/api/echo')[0]?.contentType).toBe('application/merge-patch+json')
  })

  it('uses the body token when the cookie is not readable (cross-origin), fetching one when none is known', async () => {
    await setup()
    const auth = tab(new CookieJar())
    expect((await auth.fetch('/api/echo', { method: 'POST' })).status).toBe(401) // not signed in, but CSRF passed
    expect(server.state.csrfGets).toBe(1)
    await auth.login(alice)
    await auth.fetch('/api/echo', { method: 'POST' })
    await auth.fetch('/api/echo', { method: 'PUT' })
    // the login body carried the new token: no further GET, and it is the masked one
    expect(server.state.csrfGets).toBe(2)
    expect(server.requests('PUT', '/api/echo')[0]?.csrf).toMatch(/^m\./)
  })

  it('reads the cookie at request time when it is readable', async () => {
    await setup()
    const jar = new CookieJar()
    const auth = tab(jar, { readCookie: jar.get })
    await auth.login(alice)
    const raw = jar.get('__Host-csrf')
    await auth.fetch('/api/echo', { method: 'POST' })
    expect(server.requests('POST', '/api/echo')[0]?.csrf).toBe(raw)
    jar.cookies.set('__Host-csrf', 'changed') // e.g. rotated by another tab
    await auth.fetch('/api/echo', { method: 'PATCH' })
    expect(server.requests('PATCH', '/api/echo')[0]?.csrf).toBe('changed')
  })

  it('on csrf_failed fetches a fresh token and replays once, never twice', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.login(alice)
    const gets = server.state.csrfGets
    server.state.csrfFailNext = 1
    expect((await auth.fetch('/api/echo', { method: 'POST', body: 'x' })).status).toBe(200)
    expect(server.state.csrfGets).toBe(gets + 1)
    expect(server.requests('POST', '/api/echo').map((r) => r.body)).toEqual(['x', 'x'])

    server.state.csrfFailNext = 5
    const res = await auth.fetch('/api/echo', { method: 'POST' })
    expect(res.status).toBe(403)
    expect(server.requests('POST', '/api/echo')).toHaveLength(4)
    server.state.csrfFailNext = 0
  })

  it('login always fetches a fresh token first', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.fetch('/api/echo', { method: 'POST' }) // a token is now known
    await auth.login(alice)
    const paths = server.log.map((r) => `${r.method} ${r.path}`)
    expect(paths.slice(-2)).toEqual(['GET /auth/csrf', 'POST /auth/login'])
  })

  it('speaks Django names by options only', async () => {
    await setup({ csrfCookie: 'csrftoken', csrfHeader: 'X-CSRFToken' })
    const jar = new CookieJar()
    const auth = tab(jar, { csrf: { cookie: 'csrftoken', header: 'X-CSRFToken' }, readCookie: jar.get })
    await auth.login(alice)
    expect((await auth.fetch('/api/echo', { method: 'POST' })).status).toBe(200)
    expect(server.requests('POST', '/api/echo')[0]?.csrf).toBe(jar.get('csrftoken'))
  })
})


/**
 * Two "tabs" (clients) sharing one cookie jar and a stand-in localStorage, no
 * BroadcastChannel, with `navigator` as given: both hit an expired access
 * token at once; exactly one refresh may reach the server.
 */
async function twoTabsRefreshAtOnce(navigator: object): Promise<Map<string, string>> {
  const storage = new Map<string, string>()
  vi.stubGlobal('navigator', navigator)
  vi.stubGlobal('localStorage', {
    get length() {
      return storage.size
    },
    getItem: (k: string) => storage.get(k) ?? null,
    setItem: (k: string, v: string) => void storage.set(k, v),
    removeItem: (k: string) => void storage.delete(k),
  })
  vi.stubGlobal('BroadcastChannel', undefined)
  const jar = new CookieJar()
  const a = tab(jar)
  const b = tab(jar)
  await a.login(alice)
  server.expireAccess()
  const [ra, rb] = await Promise.all([a.fetch('/api/me'), b.fetch('/api/me')])
  expect([ra.status, rb.status]).toEqual([200, 200])
  expect(server.state.refreshCount).toBe(1)
  return storage
}

describe('refresh and replay', () => {
  it('refreshes once on token_expired and replays the request with its body', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.login(alice)
    server.expireAccess()
    const res = await auth.fetch('/api/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"amount":5}',
    })
    expect(await res.json()).toEqual({ method: 'POST', body: '{"amount":5}' })
    expect(server.state.refreshCount).toBe(1)
    expect(auth.getState().status).toBe('signed-in')
  })

  it('replays a Request input (cloned per attempt)', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.login(alice)
    server.expireAccess()
    const res = await auth.fetch(new Request(server.url + '/api/echo', { method: 'POST', body: 'req-body' }))
    expect(await res.json()).toEqual({ method: 'POST', body: 'req-body' })
  })

  it('never loops: a 401 after the replay is returned as is', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.login(alice)
    const res = await auth.fetch('/api/always-expired')
    expect(res.status).toBe(401)
    expect((await res.json()).error.code).toBe('token_expired')
    expect(server.state.refreshCount).toBe(1)
    expect(server.requests('GET', '/api/always-expired')).toHaveLength(2)
  })

  it('does not refresh on other 401s by default; shouldRefresh is configurable', async () => {
    await setup()
    const auth = tab(new CookieJar())
    expect((await auth.fetch('/api/me')).status).toBe(401) // unauthenticated, not token_expired
    expect(server.state.refreshCount).toBe(0)
    const eager = tab(new CookieJar(), { shouldRefresh: (res) => res.status === 401 })
    await eager.fetch('/api/me')
    expect(server.state.refreshCount).toBe(1)
  })

  it('does not replay a ReadableStream body', async () => {
    await setup()
    const auth = tab(new CookieJar())
    await auth.login(alice)
    server.expireAccess()
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('stream'))
        c.close()
      },
    })
    const res = await auth.fetch('/api/echo', { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(401)
    expect(server.requests('POST', '/api/echo')).toHaveLength(1)
  })

  it('single flight: 10 concurrent 401s cause one refresh', async () => {
    await setup({ refreshDelayMs: 50 })
    const auth = tab(new CookieJar())
    await auth.login(alice)
    server.expireAccess()
    const results = await Promise.all(Array.from({ length: 10 }, () => auth.fetch('/api/me')))
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200))
    expect(server.state.refreshCount).toBe(1)
  })

  it('a failed refresh signs out, broadcasts, calls onSignedOut and returns the original 401', async () => {
    await setup()
    const jar = new CookieJar()
    const onSignedOut = vi.fn()
    const a = tab(jar, { onSignedOut })
    const b = tab(jar)
    await a.login(alice)
    await until(() => b.getState().status == 'signed-in') // b learnt it from the channel
    expect(b.getState().user?.username).toBe('alice')

    server.expireAccess()
    server.state.failRefresh = true
    const res = await a.fetch('/api/me')
    expect(res.status).toBe(401)
    expect((await res.json()).error.code).toBe('token_expired')
    expect(a.getState()).toEqual({ status: 'signed-out' })
    expect(onSignedOut).toHaveBeenCalledTimes(1)
    await until(() => b.getState().status == 'signed-out')
  })

  it('two tabs refreshing at once rotate once (Web Lock + shared timestamp)', async () => {
    await setup({ refreshDelayMs: 30 })
    // Stand-ins for the browser's navigator.locks and localStorage, shared by both "tabs".
    const queues = new Map<string, Promise<unknown>>()
    const locks = {
      request<T>(name: string, fn: () => Promise<T>): Promise<T> {
        const run = (queues.get(name) ?? Promise.resolve()).then(fn, fn)
        queues.set(name, run.catch(() => {}))
        return run
      },
    }
    // No BroadcastChannel: the lock and the localStorage timestamp alone must do it.
    const storage = await twoTabsRefreshAtOnce({ locks })
    expect(storage.get(`t${channel}:refreshedAt`)).toMatch(/^\d+$/)
  })

  it('without Web Locks, a localStorage lease still makes two tabs rotate once', async () => {
    await setup({ refreshDelayMs: 30 })
    const storage = await twoTabsRefreshAtOnce({})
    expect([...storage.keys()].some((k) => k.endsWith(':lease'))).toBe(false) // released
  })

  it('proactive refresh fires before expiry and stops at logout', async () => {
    await setup({ accessTtlMs: 2200 })
    const auth = tab(new CookieJar(), { proactiveRefresh: 1 })
    await auth.login(alice)
    await until(() => server.state.refreshCount == 1, 3000)
    await auth.logout()
    await new Promise((r) => setTimeout(r, 1500))
    expect(server.state.refreshCount).toBe(1)
  })
})

describe('account API', () => {
  it('login, session, sessions, revokeSession, logout', async () => {
    await setup()
    const auth = tab(new CookieJar())
    expect(await auth.session()).toBeNull()
    expect(auth.getState().status).toBe('signed-out')
    const { user, session } = await auth.login(alice)
    expect(user.username).toBe('alice')
    expect((await auth.session())?.session.id).toBe(session.id)

    const other = tab(new CookieJar(), {}, 'other')
    const second = await other.login(alice)
    const list = await auth.sessions()
    expect(list.map((s) => s.current).sort()).toEqual([false, true])
    await auth.revokeSession(second.session.id)
    expect(server.requests('DELETE', `/auth/sessions/${encodeURIComponent(second.session.id)}`)).toHaveLength(1)
    expect(await other.session()).toBeNull()

    await auth.logout()
    expect(auth.getState().status).toBe('signed-out')
    expect(server.requests('POST', '/auth/logout')[0]?.csrf).toBeTruthy()
  })

  it('wrong password throws AuthError with the contract code', async () => {
    await setup()
    const auth = tab(new CookieJar())
    const error = await auth.login({ username: 'alice', password: 'nope' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AuthError)
    expect(error).toMatchObject({ status: 401, code: 'invalid_credentials' })
  })

  it('register signs in afterwards unless loginAfterRegister is false', async () => {
    await setup()
    const auth = tab(new CookieJar())
    const result = await auth.register({ username: 'bob', password: 'bob-password-1' })
    expect(result.session).toBeDefined()
    expect(auth.getState().user?.username).toBe('bob')
    const paths = server.log.map((r) => `${r.method} ${r.path}`)
    expect(paths).toEqual(['GET /auth/csrf', 'POST /auth/register', 'GET /auth/csrf', 'POST /auth/login'])

    const plain = tab(new CookieJar(), { loginAfterRegister: false }, 'plain')
    expect(await plain.register({ username: 'carol', password: 'carol-password-1' })).toEqual({
      user: { id: 'u3', username: 'carol' },
    })
    expect(plain.getState().status).toBe('unknown')
  })

  it('logoutAll signs every tab out', async () => {
    await setup()
    const jar = new CookieJar()
    const a = tab(jar)
    const b = tab(jar)
    await a.login(alice)
    await until(() => b.getState().status == 'signed-in')
    await a.logoutAll()
    expect(a.getState().status).toBe('signed-out')
    await until(() => b.getState().status == 'signed-out')
  })
})

describe('subscribe', () => {
  it('notifies listeners until they unsubscribe', async () => {
    await setup()
    const auth = tab(new CookieJar())
    const seen: AuthState[] = []
    const unsubscribe = auth.subscribe((s) => seen.push(s))
    await auth.login(alice)
    expect(seen.at(-1)?.status).toBe('signed-in')
    expect(auth.getState()).toBe(seen.at(-1)) // stable snapshot
    unsubscribe()
    await auth.logout()
    expect(seen.map((s) => s.status)).toEqual(['signed-in'])
    expect(auth.getState().status).toBe('signed-out')
  })
})
