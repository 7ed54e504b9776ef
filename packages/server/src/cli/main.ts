/**
 * `npm run bastion -- <command>`: operator tasks on the store the demo and
 * servers use, configured by the same environment (DATABASE_URL or
 * BASTION_DATA_DIR, BASTION_SECRET).
 *
 *   keys list      the signing keys, newest first, and which one signs
 *   keys rotate [--activate-in <seconds>]
 *                  a new signing key, published at once and signing after
 *                  the delay (default 60 s: twice the instances' key reload
 *                  interval, so all of them know it first; 0 for at once);
 *                  the old one verifies until its tokens expire
 *   prune          deletes sessions that ended more than a day ago
 */
import { resolve } from 'node:path'
import { createBastion } from '../bastion.ts'
import { optionsFromEnv, resolveSecret } from '../env.ts'
import { ConfigError } from '../errors.ts'
import { storeFromEnv } from '../stores/from-env.ts'

const USAGE = 'usage: bastion keys list | keys rotate [--activate-in <seconds>] | prune'
const DEFAULT_ACTIVATE_IN = 60

export async function run(args: string[], env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  let activateIn = DEFAULT_ACTIVATE_IN
  const flag = args.indexOf('--activate-in')
  if (flag !== -1) {
    activateIn = Number(args[flag + 1])
    args = [...args.slice(0, flag), ...args.slice(flag + 2)]
  }
  const command = args.join(' ')
  if (!['keys list', 'keys rotate', 'prune'].includes(command) || !(Number.isInteger(activateIn) && activateIn >= 0 && activateIn <= 86_400)) {
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
      if (command === 'keys rotate') {
        const kid = await bastion.rotateKeys({ activateIn })
        out(`new signing key ${kid} in ${where}, published now, signing ${activateIn === 0 ? 'now' : `from ${new Date(Date.now() + activateIn * 1000).toISOString()}`}`)
      }
      const keys = await store.listKeys()
      const now = Date.now()
      for (const k of keys.sort((a, b) => b.createdAt - a.createdAt)) {
        const state =
          k.createdAt > now
            ? `signs from ${new Date(k.createdAt).toISOString()}`
            : k.retiredAt === null
              ? 'signing'
              : k.retiredAt > now
                ? `signing until ${new Date(k.retiredAt).toISOString()}`
                : `retired ${new Date(k.retiredAt).toISOString()}`
        out(`${k.kid}  ${k.alg}  ${k.createdAt > now ? 'published' : 'created'} ${new Date(Math.min(k.createdAt, now)).toISOString()}  ${state}`)
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
