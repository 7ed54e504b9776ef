import { join } from 'node:path'
import type { Store } from '../store.ts'
import { sqliteDriverFromEnv, sqliteStore } from './sqlite/index.ts'

export type PrunableStore = Store & { prune(now: number): Promise<number> }

/**
 * The store the environment names: PostgreSQL when `DATABASE_URL` is set,
 * else the SQLite file `bastion.sqlite` in `dataDir`, on the SQLite driver
 * `BASTION_SQLITE_DRIVER` names (`node:sqlite` or `better-sqlite3`; unset:
 * the default for this Node). `where` says which, for log lines. The
 * PostgreSQL driver is loaded only when it is used.
 */
export async function storeFromEnv(env: NodeJS.ProcessEnv, dataDir: string): Promise<{ store: PrunableStore; where: string }> {
  if (env.DATABASE_URL) {
    const { postgresStore } = await import('./postgres/index.ts')
    return { store: postgresStore({ connectionString: env.DATABASE_URL }), where: 'PostgreSQL (DATABASE_URL)' }
  }
  const file = join(dataDir, 'bastion.sqlite')
  return { store: sqliteStore({ file, driver: sqliteDriverFromEnv(env) }), where: file }
}
