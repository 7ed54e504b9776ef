import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBastion, type Bastion } from '@bastion/server'
import { sqliteStore } from '@bastion/server/sqlite'

/** Bastion on a fresh SQLite file, with alice, and access tokens that outlive any run. */
export async function benchBastion(): Promise<Bastion> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-bench-'))
  const bastion = await createBastion({
    store: sqliteStore({ file: join(dir, 'bastion.sqlite') }),
    secret: 'bench-secret-bench-secret-bench-secret-0',
    accessTtl: 3600,
    argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
  })
  await bastion.createUser('alice', 'alice-password-1')
  return bastion
}

/** Signs alice in over real HTTP, as a browser and as a native client would, for the load to carry. */
export async function signInOver(url: string): Promise<{ cookie: string; bearer: string }> {
  const csrfRes = await fetch(`${url}/auth/csrf`)
  const csrf = csrfRes.headers.getSetCookie()[0]!.split(';')[0]!
  const login = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: csrf, 'x-csrf-token': csrf.split('=')[1]! },
    body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
  })
  const cookie = login.headers.getSetCookie().map((c) => c.split(';')[0]!).filter((c) => c.startsWith('__Host-access')).join('; ')
  const token = (await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'alice-password-1' }),
  }).then((r) => r.json())) as { accessToken: string }
  return { cookie, bearer: token.accessToken }
}
