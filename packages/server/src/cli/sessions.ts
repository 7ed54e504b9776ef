import { parseArgs } from 'node:util'
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Command } from './io.ts'
import { revokeAllBound, revokeAllEntry } from '../tokens/revocation-list.ts'
import { withStore } from './store.ts'

export const SESSIONS_USAGE = `usage: bastion sessions revoke --user <username>
       bastion sessions revoke --all

  --user: revokes every live session of that user (a stolen laptop, an
  offboarding). --all: an incident (a leaked database, a compromised key):
  every session of every user, as one write (not one per session).
  Refresh tokens stop working at once, access tokens on every instance within
  the revocation bound (about 1 s with REDIS_URL, which this command then
  publishes to; about 5 s without, by the instances' store poll).
  Users can sign in again normally.`

export const sessions: Command = async (args, io) => {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { user: { type: 'string', short: 'u' }, all: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (e) {
    io.err(`bastion sessions: ${(e as Error).message}\n${SESSIONS_USAGE}`)
    return EXIT_USAGE
  }
  if (parsed.values.help) {
    io.out(SESSIONS_USAGE)
    return EXIT_OK
  }
  const { user: username, all } = parsed.values
  if (parsed.positionals.join(' ') !== 'revoke' || !username === !all) {
    io.err(SESSIONS_USAGE)
    return EXIT_USAGE
  }
  const publish = async (entries: string[]) => {
    const { redisRevocationBus } = await import('../stores/redis/index.ts')
    const bus = redisRevocationBus({ url: io.env.REDIS_URL! })
    try {
      await bus.publish(entries)
    } finally {
      await bus.close()
    }
  }
  if (all) {
    return withStore(io.env, async (store, where) => {
      await store.migrate()
      const notBefore = revokeAllBound(Date.now())
      await store.revokeAllSessions(notBefore)
      if (io.env.REDIS_URL) await publish([revokeAllEntry(notBefore)])
      io.out(`revoked every session made before ${new Date(notBefore).toISOString()} in ${where}${io.env.REDIS_URL ? ' (published on Redis)' : ''}`)
      return EXIT_OK
    })
  }
  return withStore(io.env, async (store, where) => {
    await store.migrate()
    const user = await store.findUserByUsername(username!)
    if (!user) {
      io.err(`bastion sessions: no user "${username}" in ${where}`)
      return EXIT_FAILED
    }
    const ids = await store.revokeUserSessions(user.id, 'operator', Date.now())
    if (ids.length && io.env.REDIS_URL) await publish(ids)
    io.out(`revoked ${ids.length} session${ids.length === 1 ? '' : 's'} of ${username} in ${where}${ids.length && io.env.REDIS_URL ? ' (published on Redis)' : ''}`)
    return EXIT_OK
  })
}
