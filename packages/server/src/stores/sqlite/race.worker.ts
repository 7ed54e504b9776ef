// Helper process for sqlite.test.ts: opens the file given on the command line,
// migrates, waits for a go signal (a file appearing), then rotates one token
// and prints the outcome. Not a test by itself. The driver to run on comes
// from BASTION_SQLITE_DRIVER (unset: the default for this Node).
import { existsSync } from 'node:fs'
import { sqliteDriverFromEnv, sqliteStore } from './index.ts'

const [file, go, id] = process.argv.slice(2) as [string, string, string]
const store = sqliteStore({ file, driver: sqliteDriverFromEnv(process.env) })
process.stdout.write(`driver ${store.driver}\n`)
await store.migrate()
process.stdout.write('ready\n')
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 2))
const out = await store.rotateRefresh({
  sessionId: 's1',
  presented: { generation: 0 },
  tokenSalt: `x-${id}`,
  now: 1000,
  graceMs: 10_000,
  refreshExpiresAt: () => 2e8,
})
process.stdout.write(`${out.kind}\n`)
await store.close()
