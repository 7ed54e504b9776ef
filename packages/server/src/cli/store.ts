import { resolve } from 'node:path'
import { createBastion, type Bastion } from '../bastion.ts'
import { optionsFromEnv, resolveSecret } from '../env.ts'
import { storeFromEnv, type PrunableStore } from '../stores/from-env.ts'

/** The data directory the server uses: `BASTION_DATA_DIR`, default `./data`. */
export const dataDirOf = (env: NodeJS.ProcessEnv): string => resolve(env.BASTION_DATA_DIR || './data')

/** Runs `body` on the store the environment names (the server's own), and closes it. */
export async function withStore<R>(env: NodeJS.ProcessEnv, body: (store: PrunableStore, where: string) => Promise<R>): Promise<R> {
  const { store, where } = await storeFromEnv(env, dataDirOf(env))
  try {
    return await body(store, where)
  } finally {
    await store.close()
  }
}

/**
 * Runs `body` on a Bastion made exactly as the server makes it (same store,
 * secret and options), for commands that need its rules (key rotation).
 */
export async function withBastion<R>(env: NodeJS.ProcessEnv, body: (bastion: Bastion, store: PrunableStore, where: string) => Promise<R>): Promise<R> {
  return withStore(env, async (store, where) => {
    const bastion = await createBastion({ ...optionsFromEnv(env), store, secret: resolveSecret(env, dataDirOf(env)) })
    try {
      return await body(bastion, store, where)
    } finally {
      await bastion.close()
    }
  })
}
