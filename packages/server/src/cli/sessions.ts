import { parseArgs } from 'node:util'
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Command } from './io.ts'
import { withStore } from './store.ts'

export const SESSIONS_USAGE = `usage: bastion sessions revoke --user <username>

  Revokes every live session of that user (a stolen laptop, an offboarding):
  their refresh tokens stop working at once, and their access tokens on every
  instance within the revocation bound (about 1 s with REDIS_URL, which this
  command then publishes to; about 5 s without, by the instances' store poll).
  The user can sign in again normally.`

export const sessions: Command = async (args, io) => {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { user: { type: 'string', short: 'u' }, help: { type: 'boolean', short: 'h' } } })
  } catch (e) {
    io.err(`bastion sessions: ${(e as Error).message}\n${SESSIONS_USAGE}`)
    return EXIT_USAGE
  }
  if (parsed.values.help) {
    io.out(SESSIONS_USAGE)
    return EXIT_OK
  }
  const username = parsed.values.user
  if (parsed.positionals.join(' ') !== 'revoke' || !username) {
    io.err(SESSIONS_USAGE)
    return EXIT_USAGE
  }
  return withStore(io.env, async (store, where) => {
    await store.migrate()
    const user = await store.findUserByUsername(username)
    if (!user) {
      io.err(`bastion sessions: no user "${username}" in ${where}`)
      return EXIT_FAILED
    }
    const ids = await store.revokeUserSessions(user.id, 'operator', Date.now())
    if (ids.length && io.env.REDIS_URL) {
      const { redisRevocationBus } = await import('../stores/redis/index.ts')
      const bus = redisRevocationBus({ url: io.env.REDIS_URL })
      try {
        await bus.publish(ids)
      } finally {
        await bus.close()
      }
    }
    io.out(`revoked ${ids.length} session${ids.length === 1 ? '' : 's'} of ${username} in ${where}${ids.length && io.env.REDIS_URL ? ' (published on Redis)' : ''}`)
    return EXIT_OK
  })
}
