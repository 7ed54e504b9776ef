import { EXIT_OK, EXIT_USAGE, type Command } from './io.ts'
import { withStore } from './store.ts'

export const PRUNE_USAGE = `usage: bastion prune

  Deletes sessions that ended (expired or revoked) more than a day ago, with
  their refresh tokens, and rate-limit windows that have closed. Safe to run
  from cron on a live deployment.`

export const prune: Command = async (args, io) => {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(PRUNE_USAGE)
    return EXIT_OK
  }
  if (args.length) {
    io.err(PRUNE_USAGE)
    return EXIT_USAGE
  }
  return withStore(io.env, async (store, where) => {
    await store.migrate()
    io.out(`pruned ${await store.prune(Date.now())} ended sessions from ${where}`)
    return EXIT_OK
  })
}
