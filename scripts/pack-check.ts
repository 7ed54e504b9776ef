/**
 * `npm run pack-check`: what `npm pack` makes is the product, so test it as a
 * user gets it, outside this repository.
 *
 *   1. builds and packs @bastion/server and @bastion/client, and checks what
 *      each tarball holds (dist with declarations, README, LICENSE, the bin;
 *      no tests);
 *   2. installs the tarballs into a fresh project in the system temp dir
 *      (nothing from this repository's node_modules is visible there), with
 *      nothing but express beside them, and there:
 *      - imports every server entry point with plain `node` (no tsx, no loader);
 *      - checks that the PostgreSQL and Redis entry points name the driver to
 *        install when it is missing;
 *      - runs the README's `server.js` as written and a contract check
 *        against it (login, /api/me, a CSRF-refused and a CSRF-passing POST,
 *        refresh, logout);
 *      - runs the `bastion` command (help, migrate, keys, sessions revoke,
 *        doctor, audit);
 *      - installs the drivers and type packages, then type-checks code that
 *        uses every entry point with `tsc` under `moduleResolution`
 *        `nodenext` and `bundler` (skipLibCheck off), and migrates a fresh
 *        PostgreSQL database with the now-installed driver;
 *   3. copies examples/react-express, points it at the tarballs, installs it,
 *      builds its SPA with Vite, and drives it in Chromium.
 *
 * Options: `--keep` leaves the temp dir; `--only app|example` runs one part.
 * Exit 1 on the first failure, with what was expected and what came.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CI = ['1', 'true'].includes((process.env.CI ?? '').toLowerCase())
const PG_URL = process.env.BASTION_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const CHROMIUM = process.env.BASTION_CHROMIUM ?? '/usr/bin/chromium'
const { values: opts } = parseArgs({ options: { keep: { type: 'boolean' }, only: { type: 'string' } } })

const work = mkdtempSync(join(tmpdir(), 'bastion-pack-'))
const children: ChildProcess[] = []
const started = Date.now()

function fail(message: string): never {
  throw new Error(message)
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message)
}

async function step<T>(name: string, body: () => Promise<T> | T): Promise<T> {
  const t0 = Date.now()
  process.stdout.write(`• ${name} … `)
  try {
    const result = await body()
    process.stdout.write(`ok (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
    return result
  } catch (e) {
    process.stdout.write('FAILED\n')
    throw e
  }
}

interface Ran {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs a command to completion (asynchronously, so two installs can overlap); never through a shell. */
function exec(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 600_000): Promise<Ran> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolvePromise({ status, stdout, stderr })
    })
  })
}

async function ok(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const r = await exec(cmd, args, cwd, env)
  check(r.status === 0, `${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}\n${r.stdout}\n${r.stderr}`)
  return r
}

/** The environment of a user's shell: nothing of this repository's test or loader settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('BASTION_') || k.startsWith('npm_') || k === 'NODE_OPTIONS' || k === 'DATABASE_URL' || k === 'REDIS_URL') delete env[k]
  return env
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => res(port))
    })
  })
}

/** Starts a long-running process and resolves with the first match of `ready` in its output. */
function startProcess(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  // Its own process group: `npx vite preview` runs vite in a grandchild that a signal to npx alone leaves running.
  const child = spawn(cmd, args, { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.push(child)
  let output = ''
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${cmd} ${args.join(' ')} not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs)
    const onData = (d: Buffer) => {
      // Without colour codes: vite prints `localhost:\x1b[1m5173` when it thinks it has a terminal.
      output += d.toString().replace(/\x1b\[[0-9;]*m/g, '')
      const m = output.match(ready)
      if (m) {
        clearTimeout(timer)
        res(m)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('exit', (code) => {
      clearTimeout(timer)
      rej(new Error(`${cmd} ${args.join(' ')} exited ${code} before it was ready:\n${output}`))
    })
  })
}

// ── 1. pack ──────────────────────────────────────────────────────────────────

interface Packed {
  name: string
  filename: string
  size: number
  unpackedSize: number
  files: { path: string }[]
}

type Tarballs = { server: string; client: string; addon: string }

async function pack(): Promise<Tarballs> {
  const tarballs = join(work, 'tarballs')
  mkdirSync(tarballs)
  await step('build the packages (npm run build)', () => ok('npm', ['run', 'build', '--silent'], ROOT))
  const packed = await step('npm pack', async () => {
    const r = await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tarballs, '--workspace', '@bastion/server', '--workspace', '@bastion/client'], ROOT)
    // The addon is not a workspace: npm would install a workspace's dependencies (and compile better-sqlite3) whatever its engines say.
    const addon = await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tarballs, './packages/sqlite-addon'], ROOT)
    return [...(JSON.parse(r.stdout) as Packed[]), ...(JSON.parse(addon.stdout) as Packed[])]
  })
  const byName = new Map(packed.map((p) => [p.name, p]))
  const expected: Record<string, string[]> = {
    '@bastion/server': ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/index.d.ts.map', 'dist/cli/bin.js',
      'dist/adapters/express.js', 'dist/adapters/fastify.js', 'dist/adapters/hono.js', 'dist/adapters/node.js', 'dist/adapters/web.js',
      'dist/stores/sqlite/index.js', 'dist/stores/postgres/index.js', 'dist/stores/redis/index.js', 'src/index.ts'],
    '@bastion/client': ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/react.js', 'dist/react.d.ts', 'dist/vue.js',
      'dist/vue.d.ts', 'dist/axios.js', 'dist/axios.d.ts', 'src/index.ts'],
    '@bastion/sqlite-addon': ['package.json', 'README.md', 'LICENSE', 'index.js', 'index.d.ts'],
  }
  for (const [name, required] of Object.entries(expected)) {
    const p = byName.get(name) ?? fail(`npm pack made no tarball for ${name}`)
    const paths = new Set(p.files.map((f) => f.path))
    for (const f of required) check(paths.has(f), `${p.filename} lacks ${f}`)
    const stray = [...paths].filter((f) => /\.test\.tsx?$|(^|\/)testing\/|adversarial\/|conformance\.|tsbuildinfo|\.sqlite/.test(f))
    check(stray.length === 0, `${p.filename} ships test files: ${stray.join(', ')}`)
    console.log(`    ${p.filename}: ${p.files.length} files, ${(p.size / 1024).toFixed(1)} KiB packed, ${(p.unpackedSize / 1024).toFixed(1)} KiB unpacked`)
  }
  const at = (name: string) => join(tarballs, byName.get(name)!.filename)
  return { server: at('@bastion/server'), client: at('@bastion/client'), addon: at('@bastion/sqlite-addon') }
}

// ── 2. a fresh project from the tarballs ─────────────────────────────────────

/** The README's server.js, as a user copies it. */
function readmeServer(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const m = /<!-- pack-check: server\.js[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme)
  return m?.[1] ?? fail('README.md has no `<!-- pack-check: server.js -->` block')
}

/** The few cookies a browser would keep, enough to speak the contract. */
class Jar {
  private cookies = new Map<string, string>()
  setCookies: string[] = []
  take(res: Response): void {
    this.setCookies = res.headers.getSetCookie()
    for (const line of this.setCookies) {
      const [pair] = line.split(';')
      const i = pair!.indexOf('=')
      const name = pair!.slice(0, i).trim()
      const value = pair!.slice(i + 1).trim()
      if (value === '' || /;\s*max-age=0/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  get(name: string): string | undefined {
    return this.cookies.get(name)
  }
  set(name: string, value: string): void {
    this.cookies.set(name, value)
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }
}

async function contractCheck(base: string): Promise<void> {
  const jar = new Jar()
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> => {
    const res = await fetch(base + path, {
      method,
      headers: { cookie: jar.header(), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    })
    jar.take(res)
    return res
  }
  const csrf = () => ({ 'x-csrf-token': decodeURIComponent(jar.get('__Host-csrf') ?? '') })

  const pre = await call('GET', '/auth/csrf')
  check(pre.status === 200 && jar.get('__Host-csrf'), `GET /auth/csrf: ${pre.status}, cookies ${jar.setCookies.join(' | ')}`)

  const refusedLogin = await call('POST', '/auth/login', { username: 'alice', password: 'alice-password-1' })
  check(refusedLogin.status === 403, `a login without the CSRF header must be refused, got ${refusedLogin.status}`)

  const login = await call('POST', '/auth/login', { username: 'alice', password: 'alice-password-1' }, csrf())
  const loginText = await login.text()
  check(login.status === 200, `POST /auth/login: ${login.status} ${loginText}`)
  const access = jar.setCookies.find((c) => c.startsWith('__Host-access='))
  check(access && /;\s*HttpOnly/i.test(access) && /;\s*Secure/i.test(access) && /;\s*SameSite=Lax/i.test(access), `access cookie attributes: ${access}`)
  const refresh = jar.setCookies.find((c) => c.startsWith('__Secure-refresh='))
  check(refresh && /;\s*HttpOnly/i.test(refresh) && /;\s*Path=\/auth/i.test(refresh), `refresh cookie attributes: ${refresh}`)
  check(!loginText.includes(jar.get('__Host-access')!) && !loginText.includes(jar.get('__Secure-refresh')!), 'a token appears in the login body')

  const me = await call('GET', '/api/me')
  const meBody = (await me.json()) as { user?: string }
  check(me.status === 200 && meBody.user === 'alice', `GET /api/me: ${me.status} ${JSON.stringify(meBody)}`)

  const forged = await call('POST', '/api/notes', { text: 'forged' })
  const forgedBody = (await forged.json()) as { error?: { code?: string } }
  check(forged.status === 403 && forgedBody.error?.code === 'csrf_failed', `a POST without the CSRF header: ${forged.status} ${JSON.stringify(forgedBody)}`)
  const crossSite = await call('POST', '/api/notes', { text: 'cross-site' }, { ...csrf(), origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })
  check(crossSite.status === 403, `a cross-site POST with a valid token: ${crossSite.status}`)
  const note = await call('POST', '/api/notes', { text: 'hello' }, csrf())
  check(note.status === 201, `POST /api/notes with the CSRF header: ${note.status} ${await note.text()}`)

  const oldRefresh = jar.get('__Secure-refresh')
  const oldAccess = jar.get('__Host-access')!
  const refreshed = await call('POST', '/auth/refresh', undefined, csrf())
  check(refreshed.status === 200, `POST /auth/refresh: ${refreshed.status} ${await refreshed.text()}`)
  check(jar.get('__Secure-refresh') && jar.get('__Secure-refresh') !== oldRefresh, 'the refresh token did not rotate')

  const out = await call('POST', '/auth/logout', undefined, csrf())
  check(out.status === 204, `POST /auth/logout: ${out.status}`)
  check(!jar.get('__Host-access') && !jar.get('__Secure-refresh'), `logout left cookies: ${jar.header()}`)
  jar.set('__Host-access', oldAccess)
  const after = await call('GET', '/api/me')
  check(after.status === 401, `the access token from before logout still works: ${after.status}`)
}

/**
 * What the registry would serve for @bastion/server's own dependency on the addon (an optional dependency, by
 * version): the tarball. npm still applies the addon's engines field, so on Node 24+ it is skipped.
 */
const registryStandIns = (tarballs: Tarballs) => ({ '@bastion/sqlite-addon': `file:${tarballs.addon}` })

/** A fresh project with the tarballs and express, nothing else. */
async function installApp(tarballs: Tarballs): Promise<string> {
  const app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-app', private: true, type: 'module',
    dependencies: { '@bastion/server': `file:${tarballs.server}`, '@bastion/client': `file:${tarballs.client}`, express: '^5.1.0' },
    overrides: registryStandIns(tarballs) }, null, 2))
  await ok('npm', ['install', '--no-audit', '--no-fund'], app)
  return app
}

async function freshApp(app: string): Promise<void> {
  check(!existsSync(join(app, 'node_modules/pg')) && !existsSync(join(app, 'node_modules/ioredis')), 'pg or ioredis was installed without being asked for')
  const builtIn = Number(process.versions.node.split('.')[0]) >= 24
  const addon = existsSync(join(app, 'node_modules/better-sqlite3'))
  check(builtIn ? !addon : addon, builtIn ? 'better-sqlite3 was installed (and compiled) on a Node line with node:sqlite' : 'better-sqlite3 was not installed on a Node line without node:sqlite')
  await step(`the embedded store runs on ${builtIn ? 'node:sqlite (nothing compiled)' : 'better-sqlite3 (the addon)'}`, async () => {
    const script = `import { sqliteStore } from '@bastion/server/sqlite'; const s = sqliteStore({ file: 'data/probe.sqlite' }); await s.migrate(); console.log(s.driver); await s.close()`
    const r = await ok(process.execPath, ['--input-type=module', '-e', script], app)
    check(r.stdout.trim() === (builtIn ? 'node:sqlite' : 'better-sqlite3'), `driver: ${r.stdout.trim()}`)
    check(!/ExperimentalWarning/.test(r.stderr), `a warning on this Node line: ${r.stderr}`)
  })

  await step('plain node imports every server and client entry point (and require() does, from CommonJS)', async () => {
    const entries = ['@bastion/server', '@bastion/server/web', '@bastion/server/node', '@bastion/server/express', '@bastion/server/fastify', '@bastion/server/hono',
      '@bastion/server/sqlite', '@bastion/server/postgres', '@bastion/server/redis', '@bastion/client', '@bastion/client/axios']
    const script = `for (const e of ${JSON.stringify(entries)}) { const m = await import(e); if (!Object.keys(m).length) throw new Error(e + ' exports nothing') }`
    await ok(process.execPath, ['--input-type=module', '-e', script], app)
    // A CommonJS app too: Node 20.19+ loads these ES modules through require() (no top-level await in them).
    const cjs = await ok(process.execPath, ['-e', `const { createBastion } = require('@bastion/server'); const { bastionExpress } = require('@bastion/server/express'); console.log(typeof createBastion, typeof bastionExpress)`], app)
    check(cjs.stdout.trim() === 'function function', `require() from CommonJS: ${cjs.stdout}${cjs.stderr}`)
  })

  await step('a missing driver names the package to install', async () => {
    const script = `
      import { postgresStore } from '@bastion/server/postgres'
      import { redisRateLimits } from '@bastion/server/redis'
      for (const make of [() => postgresStore({ connectionString: 'postgres://localhost/x' }), () => redisRateLimits({ url: 'redis://localhost' })]) {
        try { make(); console.log('no error') } catch (e) { console.log(e.name + ': ' + e.message) }
      }`
    const r = await ok(process.execPath, ['--input-type=module', '-e', script], app)
    const [pg, redis] = r.stdout.trim().split('\n')
    check(/^ConfigError: .*npm install pg$/.test(pg ?? ''), `without pg: ${pg}`)
    check(/^ConfigError: .*npm install ioredis$/.test(redis ?? ''), `without ioredis: ${redis}`)
  })

  writeFileSync(join(app, 'server.js'), readmeServer())
  const [, url] = await step("the README's server.js starts with plain node", () =>
    startProcess(process.execPath, ['server.js'], app, { PORT: '0' }, /listening on (http:\/\/\S+)/))
  await step('contract check against it: login, /api/me, CSRF refused and passing, refresh, logout', () => contractCheck(url!))

  const env = { BASTION_DATA_DIR: join(app, 'data') }
  await step('npx bastion: --help, migrate, keys list, sessions revoke, doctor', async () => {
    check((await ok('npx', ['bastion', '--help'], app)).stdout.includes('usage: bastion <command>'), 'bastion --help')
    check((await ok('npx', ['bastion', 'migrate'], app, env)).stdout.startsWith('migrations applied to'), 'bastion migrate')
    check(/ signing\n?$/.test((await ok('npx', ['bastion', 'keys', 'list'], app, env)).stdout), 'bastion keys list')
    check(/^revoked \d+ sessions? of alice/.test((await ok('npx', ['bastion', 'sessions', 'revoke', '--user', 'alice'], app, env)).stdout), 'bastion sessions revoke')
    const bad = await exec('npx', ['bastion', 'frobnicate'], app)
    check(bad.status === 2, `an unknown command exits 2, got ${bad.status}`)
    const doctor = await exec('npx', ['bastion', 'doctor', '--url', url!], app, env)
    check(doctor.status === 0, `bastion doctor --url ${url} exited ${doctor.status}:\n${doctor.stdout}${doctor.stderr}`)
  })
  await step('npx bastion audit against it: no cookie, token, CSRF, CORS or session finding fails', async () => {
    const r = await exec('npx', ['bastion', 'audit', url!, '--username', 'alice', '--password', 'alice-password-1', '--post', '/api/notes', '--post-body', '{"text":"audit"}', '--json'], app)
    check(r.status === 0 || r.status === 1, `bastion audit exited ${r.status}:\n${r.stdout}${r.stderr}`)
    const report = JSON.parse(r.stdout) as { findings: { id: string; severity: string; title: string }[] }
    // A bare Express app sets no CSP or frame options on its own pages: those findings are the app's, not Bastion's.
    const failures = report.findings.filter((f) => f.severity === 'fail' && !/^headers?[-.]/.test(f.id))
    check(failures.length === 0, `audit failures: ${failures.map((f) => `${f.id}: ${f.title}`).join('; ')}`)
  })

  await step('npm install the drivers, type packages and UI libraries an app would add', () =>
    ok('npm', ['install', '--no-audit', '--no-fund', 'typescript@^5.9', '@types/node@^20', '@types/express@^5', 'pg@^8', '@types/pg@^8', 'ioredis@^5',
      'fastify@^5', 'hono@^4', '@hono/node-server@^1', 'react@^19', '@types/react@^19', 'vue@^3', 'axios@^1'], app))
  writeFileSync(join(app, 'check.ts'), TYPECHECK_SOURCE)
  for (const [resolution, module] of [['nodenext', 'nodenext'], ['bundler', 'esnext']] as const) {
    await step(`tsc: every entry point type-checks under moduleResolution ${resolution} (skipLibCheck off)`, async () => {
      writeFileSync(join(app, `tsconfig.${resolution}.json`), JSON.stringify({ compilerOptions: { module, moduleResolution: resolution, target: 'es2022',
        strict: true, noEmit: true, skipLibCheck: false, types: ['node'], lib: ['es2023', 'dom', 'dom.iterable'], jsx: 'react-jsx' }, files: ['check.ts'] }))
      await ok(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${resolution}.json`], app)
    })
  }
  await step('with pg installed, `bastion migrate` sets up a fresh PostgreSQL database', async () => {
    const db = `bastion_pack_${process.pid}`
    const admin = `const { default: pg } = await import('pg'); const c = new pg.Client(${JSON.stringify(PG_URL)}); await c.connect();`
    const reach = await exec(process.execPath, ['--input-type=module', '-e', `${admin} await c.end()`], app, {}, 10_000)
    if (reach.status !== 0) {
      if (CI) fail(`no PostgreSQL at ${PG_URL} (CI=true): ${reach.stderr}`)
      process.stdout.write(`skipped: no PostgreSQL at ${PG_URL} … `)
      return
    }
    await ok(process.execPath, ['--input-type=module', '-e', `${admin} await c.query('CREATE DATABASE ${db}'); await c.end()`], app)
    try {
      const url = new URL(PG_URL)
      url.pathname = `/${db}`
      const r = await ok('npx', ['bastion', 'migrate'], app, { DATABASE_URL: url.href, BASTION_SECRET: 'p'.repeat(40) })
      check(r.stdout.includes('PostgreSQL'), `bastion migrate on PostgreSQL: ${r.stdout}`)
      check(/ signing\n?$/.test((await ok('npx', ['bastion', 'keys', 'list'], app, { DATABASE_URL: url.href, BASTION_SECRET: 'p'.repeat(40) })).stdout), 'keys list on PostgreSQL')
    } finally {
      await exec(process.execPath, ['--input-type=module', '-e', `${admin} await c.query('DROP DATABASE IF EXISTS ${db} WITH (FORCE)'); await c.end()`], app)
    }
  })
}

/** Code a TypeScript user writes against every entry point; it must type-check with the published declarations. */
const TYPECHECK_SOURCE = `
import { createBastion, resolveSecret, optionsFromEnv, BastionError, ConfigError, json, type Bastion, type Identity, type Store } from '@bastion/server'
import { sqliteStore } from '@bastion/server/sqlite'
import { postgresStore, inTransaction } from '@bastion/server/postgres'
import { redisRateLimits, redisRevocationBus } from '@bastion/server/redis'
import { toNodeListener, requestHead } from '@bastion/server/node'
import { composeHandler } from '@bastion/server/web'
import { bastionExpress, requireAuth as expressAuth } from '@bastion/server/express'
import { bastionFastify, requireAuth as fastifyAuth } from '@bastion/server/fastify'
import { bastionHono, requireAuth as honoAuth } from '@bastion/server/hono'
import { createAuthClient, AuthError, type AuthClient, type AuthState } from '@bastion/client'
import { AuthProvider, useAuth } from '@bastion/client/react'
import { createAuthPlugin, useAuth as useVueAuth } from '@bastion/client/vue'
import type { AxiosLike } from '@bastion/client/axios'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import axios from 'axios'
import { createServer } from 'node:http'

const store: Store = sqliteStore({ file: './data/typecheck.sqlite' })
const bastion: Bastion = await createBastion({ store, secret: resolveSecret(process.env, './data'), ...optionsFromEnv(process.env) })
void postgresStore; void inTransaction; void redisRateLimits; void redisRevocationBus; void composeHandler; void requestHead
void BastionError; void ConfigError

const app = express()
app.use(bastionExpress(bastion))
app.get('/api/me', expressAuth(bastion), (req, res) => { const who: Identity | undefined = req.auth; res.json({ user: who?.username }) })

const fastify = Fastify()
await fastify.register(bastionFastify(bastion))
fastify.get('/api/me', { preHandler: fastifyAuth(bastion) }, async (req) => ({ user: req.auth?.username }))

const hono = new Hono()
hono.use('*', bastionHono(bastion))
hono.get('/api/me', honoAuth(bastion), (c) => c.json({ user: c.get('auth').username }))

createServer(toNodeListener(bastion, async (request, ctx) => {
  const auth = await bastion.guard(request, ctx)
  return auth.ok ? json({ user: auth.identity.username }) : auth.response
}))

const auth: AuthClient = createAuthClient({ baseUrl: 'http://localhost:3000', csrf: { cookie: 'csrftoken', header: 'X-CSRFToken' } })
const state: AuthState = auth.getState()
void state; void AuthError
const eject: () => void = auth.installAxios(axios.create() as AxiosLike)
void eject
void AuthProvider; void useAuth; void createAuthPlugin; void useVueAuth
`

// ── 3. the React example, built from the tarballs ────────────────────────────

/** examples/react-express as a user clones it, depending on the tarballs instead of the registry. */
async function installExample(tarballs: Tarballs): Promise<string> {
  const source = join(ROOT, 'examples/react-express')
  check(existsSync(join(source, 'package.json')), 'examples/react-express is missing')
  const dir = join(work, 'react-express')
  cpSync(source, dir, { recursive: true, filter: (p) => !/(^|\/)(node_modules|dist|data)(\/|$)/.test(p.slice(source.length)) })
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; overrides?: Record<string, string> }
  check(/^\^?\d/.test(pkg.dependencies['@bastion/server'] ?? '') && /^\^?\d/.test(pkg.dependencies['@bastion/client'] ?? ''), 'the example must depend on the packages by version')
  pkg.dependencies['@bastion/server'] = `file:${tarballs.server}`
  pkg.dependencies['@bastion/client'] = `file:${tarballs.client}`
  pkg.overrides = registryStandIns(tarballs)
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2))
  await ok('npm', ['install', '--no-audit', '--no-fund'], dir)
  return dir
}

async function reactExample(dir: string): Promise<void> {

  if (!existsSync(CHROMIUM)) {
    if (CI) fail(`no Chromium at ${CHROMIUM} (CI=true)`)
    console.log(`  skipped the Chromium drive: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set BASTION_CHROMIUM)`)
    return
  }
  const apiPort = await freePort()
  const spaPort = await freePort()
  const api = `http://localhost:${apiPort}`
  const spa = `http://localhost:${spaPort}`
  await step('vite build of the SPA', () => ok('npx', ['vite', 'build'], dir, { VITE_API_URL: api }))
  await step('start its API (plain node) and serve the built SPA on its own port', async () => {
    await startProcess(process.execPath, ['server.js'], dir, { PORT: String(apiPort), SPA_ORIGIN: spa }, /http:\/\/\S+/)
    await startProcess('npx', ['vite', 'preview', '--port', String(spaPort), '--strictPort', '--host', 'localhost'], dir, { NO_COLOR: '1' }, new RegExp(`localhost:${spaPort}`))
  })
  await step('Chromium: sign in, call, POST, devices, sign out, screenshot', async () => {
    const { chromium } = await import('playwright-core')
    const { driveReactExample } = await import('../e2e/examples/react-express.drive.ts')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
    try {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
      mkdirSync(join(ROOT, 'e2e/artifacts'), { recursive: true })
      await driveReactExample(page, spa, join(ROOT, 'e2e/artifacts/pack-react-express.png'))
    } finally {
      await browser.close()
    }
  })
}

// ── run ──────────────────────────────────────────────────────────────────────

let code = 0
try {
  console.log(`pack-check in ${work} (outside the repository), Node ${process.version}`)
  const tarballs = await pack()
  const wantApp = !opts.only || opts.only === 'app'
  const wantExample = !opts.only || opts.only === 'example'
  // Each install compiles better-sqlite3 on Node 20; the two overlap on the machine's two cores.
  const [app, example] = await step(`npm install the tarballs into ${[wantApp && 'a fresh project', wantExample && 'examples/react-express'].filter(Boolean).join(' and ')}`, () =>
    Promise.all([wantApp ? installApp(tarballs) : null, wantExample ? installExample(tarballs) : null]))
  if (app) await freshApp(app)
  if (example) await reactExample(example)
  console.log(`pack-check passed in ${((Date.now() - started) / 1000).toFixed(0)} s`)
} catch (e) {
  console.error(`\npack-check FAILED: ${e instanceof Error ? e.message : String(e)}`)
  code = 1
} finally {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGTERM') // the whole group (see startProcess)
    } catch {
      c.kill('SIGTERM')
    }
  }
  await new Promise((r) => setTimeout(r, 300))
  if (opts.keep) console.log(`kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
}
process.exit(code)
