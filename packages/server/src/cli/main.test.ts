import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { createBastion } from '../bastion.ts'
import { sqliteStore } from '../stores/sqlite/index.ts'
import { run } from './main.ts'

const dir = mkdtempSync(join(tmpdir(), 'bastion-cli-'))
const env = { BASTION_DATA_DIR: dir, BASTION_SECRET: 'c'.repeat(40) }
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function cli(args: string[], withEnv: NodeJS.ProcessEnv = env): Promise<{ code: number; lines: string[]; errors: string[] }> {
  const lines: string[] = []
  const errors: string[] = []
  const code = await run(args, { env: withEnv, out: (l) => lines.push(l), err: (l) => errors.push(l) })
  return { code, lines, errors }
}

describe('bastion CLI', () => {
  it('lists the signing key, rotates it, and keeps the old one listed as retired', async () => {
    const first = await cli(['keys', 'list'])
    expect(first.code).toBe(0)
    expect(first.lines).toHaveLength(1)
    expect(first.lines[0]).toMatch(/EdDSA .* signing$/)
    const rotated = await cli(['keys', 'rotate', '--activate-in', '0'])
    expect(rotated.code).toBe(0)
    expect(rotated.lines[0]).toMatch(/^new signing key (\S+) .* signing now$/)
    const newKid = /^new signing key (\S+)/.exec(rotated.lines[0]!)![1]
    expect(rotated.lines.slice(1)).toHaveLength(2)
    expect(rotated.lines[1]).toMatch(new RegExp(`^${newKid} .* signing$`))
    expect(rotated.lines[2]).toMatch(/retired \d{4}-/)
  })

  it('stages a rotation by default: the new key is published and signs after 60 s, the current one signs until then', async () => {
    const before = Date.now()
    const rotated = await cli(['keys', 'rotate'])
    expect(rotated.code).toBe(0)
    const m = /^new signing key (\S+) .* signing from (\S+)$/.exec(rotated.lines[0]!)!
    expect(Date.parse(m[2]!) - before).toBeGreaterThanOrEqual(59_000)
    expect(rotated.lines[1]).toMatch(new RegExp(`^${m[1]} .* published .* signs from `))
    expect(rotated.lines[2]).toMatch(/ signing until \d{4}-/)
    expect((await cli(['keys', 'rotate', '--activate-in', 'soon'])).code).toBe(2)
  })

  it('migrates (twice: the second changes nothing) and prunes', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'bastion-cli-migrate-'))
    try {
      const e = { BASTION_DATA_DIR: fresh, BASTION_SECRET: 'c'.repeat(40) }
      expect(await cli(['migrate'], e)).toMatchObject({ code: 0, lines: [expect.stringMatching(/^migrations applied to .*bastion\.sqlite$/)] })
      expect((await cli(['migrate'], e)).code).toBe(0)
      expect((await cli(['prune'], e)).lines[0]).toMatch(/^pruned 0 ended sessions/)
      expect((await cli(['migrate', 'now'], e)).code).toBe(2)
    } finally {
      rmSync(fresh, { recursive: true, force: true })
    }
  })

  it('revokes every live session of a user, and says so when the user does not exist', async () => {
    const file = join(dir, 'bastion.sqlite')
    const bastion = await createBastion({ store: sqliteStore({ file }), secret: env.BASTION_SECRET, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
    let sessionIds: string[] = []
    try {
      await bastion.createUser('carol', 'carol-password-1')
      for (let i = 0; i < 2; i++) {
        const csrf = await bastion.handle(new Request('http://localhost/auth/csrf'))
        const cookie = csrf!.headers.getSetCookie()[0]!.split(';')[0]!
        const token = ((await csrf!.json()) as { csrfToken: string }).csrfToken
        const login = await bastion.handle(new Request('http://localhost/auth/login', {
          method: 'POST', body: JSON.stringify({ username: 'carol', password: 'carol-password-1' }),
          headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': token, origin: 'http://localhost' },
        }))
        expect(login!.status).toBe(200)
        sessionIds.push(((await login!.json()) as { session: { id: string } }).session.id)
      }
    } finally {
      await bastion.close()
    }
    const revoked = await cli(['sessions', 'revoke', '--user', 'carol'])
    expect(revoked).toMatchObject({ code: 0, lines: [expect.stringMatching(/^revoked 2 sessions of carol in /)] })
    const store = sqliteStore({ file })
    try {
      for (const id of sessionIds) expect((await store.findSession(id))?.revokedReason).toBe('operator')
    } finally {
      await store.close()
    }
    expect((await cli(['sessions', 'revoke', '--user', 'carol'])).lines[0]).toMatch(/^revoked 0 sessions/)
    const nobody = await cli(['sessions', 'revoke', '--user', 'nobody'])
    expect(nobody.code).toBe(1)
    expect(nobody.errors[0]).toMatch(/no user "nobody"/)
    expect((await cli(['sessions', 'revoke'])).code).toBe(2)
  })

  it('revokes every session of every user with --all (one write); a running instance refuses them, and people sign in again', async () => {
    const file = join(dir, 'bastion.sqlite')
    const bastion = await createBastion({ store: sqliteStore({ file }), secret: env.BASTION_SECRET, argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } })
    const signIn = async (username: string) => {
      const csrf = await bastion.handle(new Request('http://localhost/auth/csrf'))
      const cookie = csrf!.headers.getSetCookie()[0]!.split(';')[0]!
      const token = ((await csrf!.json()) as { csrfToken: string }).csrfToken
      const login = await bastion.handle(new Request('http://localhost/auth/login', {
        method: 'POST', body: JSON.stringify({ username, password: `${username}-password-1` }),
        headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': token, origin: 'http://localhost' },
      }))
      expect(login!.status).toBe(200)
      const cookies = login!.headers.getSetCookie().map((c) => c.split(';')[0]!)
      return { id: ((await login!.json()) as { session: { id: string } }).session.id, cookies: cookies.join('; ') }
    }
    const me = (cookies: string) => bastion.guard(new Request('http://localhost/api/me', { headers: { cookie: cookies } }))
    try {
      await bastion.createUser('dave', 'dave-password-1')
      await bastion.createUser('erin', 'erin-password-1')
      const [dave, erin] = [await signIn('dave'), await signIn('erin')]
      expect((await me(dave.cookies)).ok).toBe(true)
      expect((await cli(['sessions', 'revoke', '--all', '--user', 'dave'])).code).toBe(2)
      const revoked = await cli(['sessions', 'revoke', '--all'])
      expect(revoked).toMatchObject({ code: 0, lines: [expect.stringMatching(/^revoked every session made before \d{4}-.* in /)] })
      const store = sqliteStore({ file })
      try {
        for (const s of [dave, erin]) expect((await store.findSession(s.id))?.revokedReason).toBe('revoked_all')
      } finally {
        await store.close()
      }
      // The running instance learns the bound at its next store poll (5 s).
      const started = Date.now()
      while ((await me(erin.cookies)).ok) {
        expect(Date.now() - started).toBeLessThan(6_000)
        await new Promise((r) => setTimeout(r, 100))
      }
      await new Promise((r) => setTimeout(r, 1_000)) // past the bound (the next whole second)
      const again = await signIn('dave')
      expect((await me(again.cookies)).ok).toBe(true)
    } finally {
      await bastion.close()
    }
  })

  it('prints help for every command with exit 0, and usage with exit 2 for what it does not know', async () => {
    for (const command of ['keys', 'prune', 'migrate', 'sessions', 'doctor', 'audit']) {
      const help = await cli([command, '--help'])
      expect(help.code, command).toBe(0)
      expect(help.lines.join('\n'), command).toMatch(/^usage: bastion /)
    }
    expect((await cli(['--help'])).lines.join('\n')).toMatch(/^usage: bastion <command>/)
    const unknown = await cli(['keys', 'delete'])
    expect(unknown.code).toBe(2)
    expect(unknown.errors.join('\n')).toMatch(/^usage: bastion keys list/)
    expect((await cli(['launch'])).code).toBe(2)
    expect((await cli([])).code).toBe(2)
  })

  it('refuses a store sealed with another secret in one line, exit 1', async () => {
    const r = await cli(['keys', 'list'], { ...env, BASTION_SECRET: 'd'.repeat(40) })
    expect(r.code).toBe(1)
    expect(r.errors).toEqual([expect.stringMatching(/^bastion keys: .*sealed with a different secret/)])
  })

  it('names the driver to install when DATABASE_URL is set and pg is not installed', async () => {
    // Run the built-in loader in a process whose resolution cannot see this repository's node_modules.
    const loader = fileURLToPath(new URL('../optional-dependency.ts', import.meta.url))
    const script = `import { requireOptional } from ${JSON.stringify(loader)}; try { requireOptional('pg-not-installed-here', 'The PostgreSQL store') } catch (e) { console.log(e.constructor.name + ': ' + e.message) }`
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(r.stdout.trim()).toBe('ConfigError: The PostgreSQL store needs the "pg-not-installed-here" package, which is not installed. Install it in your app: npm install pg-not-installed-here')
  })
})
