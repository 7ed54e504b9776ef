import { EXIT_OK, EXIT_USAGE, type Command } from './io.ts'
import { withStore } from './store.ts'

export const MIGRATE_USAGE = `usage: bastion migrate

  Applies the store's pending migrations and exits: for a deploy pipeline that
  migrates before the new instances start. (Instances also migrate at start,
  under a lock, so this is optional.) Running it again changes nothing.`

export const migrate: Command = async (args, io) => {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(MIGRATE_USAGE)
    return EXIT_OK
  }
  if (args.length) {
    io.err(MIGRATE_USAGE)
    return EXIT_USAGE
  }
  return withStore(io.env, async (store, where) => {
    await store.migrate()
    io.out(`migrations applied to ${where}`)
    return EXIT_OK
  })
}
