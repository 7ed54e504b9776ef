import { join } from 'node:path'
import type { Store } from '../store.ts'
import { sqliteStore } from './sqlite/index.ts'

export type PrunableStore = Store & { prune(now: number): Promise<number> }

/**
 * The store the environment names: PostgreSQL when `DATABASE_URL` is set,
 * else the SQLite file `bastion.sqlite` in `dataDir`. `where` says which, for
 * log lines. The PostgreSQL driver is loaded only when it is used.
 */
export async function storeFromEnv(env: NodeJS.ProcessEnv, dataDir: string): Promise<{ store: PrunableStore; where: string }> {
  if (env.DATABASE_URL) {
    const { postgresStore } = await import('./postgres/index.ts')
    return { store: postgresStore({ connectionString: env.DATABASE_URL }), where: 'PostgreSQL (DATABASE_URL)' }
  }
  const file = join(dataDir, 'bastion.sqlite')
  return { store: sqliteStore({ file }), where: file }
}
