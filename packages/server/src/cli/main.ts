/**
 * `npm run bastion -- <command>`: operator tasks on the store the demo and
 * servers use, configured by the same environment (DATABASE_URL or
 * BASTION_DATA_DIR, BASTION_SECRET).
 *
 *   keys list      the signing keys, newest first, and which one signs
 *   keys rotate    a new signing key; the old one verifies until its tokens expire
 *   prune          deletes sessions that ended more than a day ago
 */
import { resolve } from 'node:path'
import { createBastion } from '../bastion.ts'
import { optionsFromEnv, resolveSecret } from '../env.ts'
import { ConfigError } from '../errors.ts'
import { storeFromEnv } from '../stores/from-env.ts'

const USAGE = 'usage: bastion keys list | keys rotate | prune'

export async function run(args: string[], env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  const command = args.join(' ')
  if (!['keys list', 'keys rotate', 'prune'].includes(command)) {
    out(USAGE)
    return 2
  }
  const { store, where } = await storeFromEnv(env, resolve(env.BASTION_DATA_DIR || './data'))
  try {
    if (command === 'prune') {
      await store.migrate()
      out(`pruned ${await store.prune(Date.now())} ended sessions from ${where}`)
      return 0
    }
    const bastion = await createBastion({ ...optionsFromEnv(env), store, secret: resolveSecret(env, resolve(env.BASTION_DATA_DIR || './data')) })
    try {
      if (command === 'keys rotate') out(`new signing key ${await bastion.rotateKeys()} in ${where}`)
      const keys = await store.listKeys()
      for (const k of keys.sort((a, b) => b.createdAt - a.createdAt)) {
        const state = k.retiredAt === null ? 'signing' : `retired ${new Date(k.retiredAt).toISOString()}`
        out(`${k.kid}  ${k.alg}  created ${new Date(k.createdAt).toISOString()}  ${state}`)
      }
      return 0
    } finally {
      await bastion.close()
    }
  } finally {
    await store.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2), process.env, (line) => process.stdout.write(line + '\n')).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`bastion: ${e instanceof ConfigError ? e.message : e instanceof Error ? e.message : String(e)}\n`)
      process.exit(1)
    },
  )
}
