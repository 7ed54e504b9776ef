/**
 * Test support shared by the examples' tests (not an example): starts an
 * example's real server.js as a child process, exactly as `npm start` would
 * but on the packages' TypeScript sources, and walks the HTTP flow every
 * example implements (CSRF cookie, login, GET /api/me, POST /api/notes, the
 * device list, revoking a device, logout, register).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import { Browser, cookieValue, setCookieFor, type RequestOptions, type Res } from '../packages/server/src/testing/harness.ts'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
export const ALICE = { username: 'alice', password: 'alice-password-1' } as const

export interface ExampleProcess {
  child: ChildProcess
  /** The URL from the ready line. */
  url: string
  dataDir: string
  stdout(): string
  stderr(): string
  /** SIGTERM, then the exit code; removes the data dir. */
  stop(): Promise<number | null>
}

/** `node server.js` in `examples/<name>` with PORT=0 and a fresh data dir; resolves on the ready line. */
export async function startExample(name: string, env: Record<string, string> = {}): Promise<ExampleProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), `bastion-example-${name}-`))
  const child = spawn(process.execPath, ['--conditions=@bastion/source', '--import', 'tsx', 'server.js'], {
    cwd: join(ROOT, 'examples', name),
    env: { PATH: process.env.PATH ?? '', PORT: '0', BASTION_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    const code = await exited
    clearTimeout(timer)
    rmSync(dataDir, { recursive: true, force: true })
    return code
  }
  const deadline = Date.now() + 20_000
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(out)
    if (m) return { child, url: m[1]!, dataDir, stdout: () => out, stderr: () => err, stop }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`examples/${name} did not start (exit ${child.exitCode}):\n${out}\n${err}`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** Builds packages/client/dist (what a bundler or a page imports) when it is missing. */
export function ensureClientBuilt(): void {
  const dist = join(ROOT, 'packages/client/dist')
  if (['index.js', 'react.js', 'vue.js'].every((f) => existsSync(join(dist, f)))) return
  const r = spawnSync('npm', ['run', 'build', '--workspace', '@bastion/client', '--silent'], { cwd: ROOT, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`client build failed:\n${r.stdout}\n${r.stderr}`)
}

/** A browser whose page runs on `origin` (the API's own, or an SPA's in the allow-list). */
class PageBrowser extends Browser {
  constructor(
    url: string,
    origin: string,
    private readonly fetchSite: string,
    userAgent: string,
  ) {
    super({ url, origin }, { userAgent })
  }
  override request(method: string, path: string, opts: RequestOptions = {}): Promise<Res> {
    const cross = this.fetchSite !== 'same-origin'
    // A cross-origin fetch sends Origin on every request; the CORS answer must name it.
    return super.request(method, path, { ...opts, headers: { 'Sec-Fetch-Site': this.fetchSite, ...(cross ? { Origin: this.server.origin } : {}), ...opts.headers } })
  }
}

const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36'
const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:130.0) Gecko/20100101 Firefox/130.0'

/**
 * The flow every example serves, over real HTTP. `spaOrigin` is where the page
 * runs: the API's own origin (same-origin examples) or an allowed SPA origin.
 */
export async function checkAuthFlow(url: string, spaOrigin: string = url): Promise<void> {
  const fetchSite = spaOrigin === url ? 'same-origin' : 'same-site' // localhost:5173 -> localhost:3000: same site, another origin
  const laptop = new PageBrowser(url, spaOrigin, fetchSite, CHROME_LINUX)

  // The CSRF cookie: readable by the page (not HttpOnly), __Host- scoped.
  const csrf = await laptop.get('/auth/csrf')
  expect(csrf.status, csrf.text).toBe(200)
  expect(typeof csrf.body.csrfToken).toBe('string')
  const csrfCookie = setCookieFor(csrf, '__Host-csrf')
  expect(csrfCookie).toMatch(/; Secure/i)
  expect(csrfCookie).toMatch(/; Path=\//i)
  expect(csrfCookie).not.toMatch(/HttpOnly/i)

  // Login: refused without the header, accepted with it; the tokens stay in HttpOnly cookies.
  const bare = await laptop.post('/auth/login', ALICE, { csrf: false })
  expect(bare.status, bare.text).toBe(403)
  expect(bare.body.error.code).toBe('csrf_failed')
  const login = await laptop.post('/auth/login', ALICE)
  expect(login.status, login.text).toBe(200)
  expect(login.body.user.username).toBe('alice')
  const access = setCookieFor(login, '__Host-access')
  expect(access).toMatch(/HttpOnly/i)
  expect(setCookieFor(login, '__Secure-refresh')).toMatch(/HttpOnly/i)
  expect(login.text).not.toContain(cookieValue(access)!)

  // The authenticated call.
  const me = await laptop.get('/api/me')
  expect(me.status, me.text).toBe(200)
  expect(me.body.user.username).toBe('alice')
  if (fetchSite !== 'same-origin') {
    expect(me.headers.get('access-control-allow-origin')).toBe(spaOrigin)
    expect(me.headers.get('access-control-allow-credentials')).toBe('true')
  }

  // The CSRF-protected POST: refused without the header (nothing stored), accepted with it.
  const forged = await laptop.post('/api/notes', { text: 'forged' }, { csrf: false })
  expect(forged.status, forged.text).toBe(403)
  expect(forged.body.error.code).toBe('csrf_failed')
  const foreign = await laptop.post('/api/notes', { text: 'foreign' }, { headers: { Origin: 'http://evil.example', 'Sec-Fetch-Site': 'cross-site' } })
  expect(foreign.status, foreign.text).toBe(403)
  const note = await laptop.post('/api/notes', { text: 'hello from the test' })
  expect(note.status, note.text).toBe(201)
  expect(note.body.note.text).toBe('hello from the test')
  const notes = await laptop.get('/api/notes')
  expect(notes.status).toBe(200)
  expect(notes.body.notes.map((n: { text: string }) => n.text)).toEqual(['hello from the test'])

  // The device list: this session, then a second device, revoked from here.
  const one = await laptop.get('/auth/sessions')
  expect(one.status, one.text).toBe(200)
  expect(one.body.sessions).toHaveLength(1)
  expect(one.body.sessions[0]).toMatchObject({ id: login.body.session.id, current: true, userAgent: CHROME_LINUX })
  const phone = new PageBrowser(url, spaOrigin, fetchSite, FIREFOX_MAC)
  await phone.signIn(ALICE.username, ALICE.password)
  expect((await phone.get('/api/me')).status).toBe(200)
  const two = await laptop.get('/auth/sessions')
  expect(two.body.sessions).toHaveLength(2)
  const other = two.body.sessions.find((s: { current: boolean }) => !s.current)
  expect(other.userAgent).toBe(FIREFOX_MAC)
  const revoke = await laptop.request('DELETE', `/auth/sessions/${encodeURIComponent(other.id)}`)
  expect(revoke.status, revoke.text).toBe(204)
  const revoked = await phone.get('/api/me')
  expect(revoked.status, revoked.text).toBe(401)
  expect((await laptop.get('/auth/sessions')).body.sessions).toHaveLength(1)

  // Logout: 204, and the access cookie no longer works (it is gone from the jar, and revoked if replayed).
  const logout = await laptop.post('/auth/logout')
  expect(logout.status, logout.text).toBe(204)
  expect((await laptop.get('/api/me')).status).toBe(401)
  const replay = await fetch(url + '/api/me', { headers: { cookie: `__Host-access=${cookieValue(access)}` } })
  expect(replay.status).toBe(401)

  // Register: a new account, signed in by the client's login afterwards.
  const name = `user${process.pid}x${Date.now().toString(36)}`
  const fresh = new PageBrowser(url, spaOrigin, fetchSite, CHROME_LINUX)
  const registered = await fresh.register(name, 'a-long-password-1')
  expect(registered.status, registered.text).toBe(201)
  await fresh.signIn(name, 'a-long-password-1')
  const freshMe = await fresh.get('/api/me')
  expect(freshMe.body.user.username).toBe(name)
  expect((await fresh.get('/api/notes')).body.notes).toEqual([]) // alice's notes are hers
}
