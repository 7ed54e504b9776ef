/**
 * Redis for what every instance must share without a database round trip:
 * rate-limit counters and the revocation bus. Both fail closed: when Redis
 * cannot answer, calls reject with `StoreUnavailableError` within about a
 * second instead of waiting.
 *
 * @example
 * ```ts
 * const rateLimits = redisRateLimits({ url: 'redis://127.0.0.1:6379' })
 * const revocations = redisRevocationBus({ url: 'redis://127.0.0.1:6379' })
 * ```
 */
import type { Redis, RedisOptions } from 'ioredis'
import { requireOptional } from '../../optional-dependency.ts'
import { StoreUnavailableError } from '../../errors.ts'
import type { RateLimitStore, RevocationBus } from '../../store.ts'
import type { ReplayCache } from '../../dpop/replay-cache.ts'

/** How long a call may wait for Redis before it fails closed. */
const COMMAND_TIMEOUT_MS = 1_000
/** Extra life of a window's counter past its end, for clocks that disagree a little. */
const WINDOW_SLACK_MS = 1_000

export const DEFAULT_REVOCATION_CHANNEL = 'bastion:revocations'

const failFast: RedisOptions = {
  // Commands issued while connecting wait in the queue, but never longer than commandTimeout,
  // and are dropped after one failed reconnect attempt.
  maxRetriesPerRequest: 1,
  enableOfflineQueue: true,
  commandTimeout: COMMAND_TIMEOUT_MS,
  connectTimeout: COMMAND_TIMEOUT_MS,
}

/** A Redis client that reports errors only through the promises of its commands. */
function connect(url: string, extra: RedisOptions = {}): Redis {
  // ioredis is installed by the application (an optional peer dependency).
  const { Redis: Client } = requireOptional<typeof import('ioredis')>('ioredis', 'Redis rate limits and revocations (@bastion/server/redis)')
  const client = new Client(url, { ...failFast, ...extra })
  // Without a listener ioredis prints every failed reconnect; callers see failures as rejections.
  client.on('error', () => {})
  return client
}

/** Resolves as `p`, or rejects with `StoreUnavailableError` if Redis fails or is too slow. */
async function guarded<T>(what: string, p: Promise<T>, ms = COMMAND_TIMEOUT_MS + 500): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`redis: ${what} timed out after ${ms} ms`)), ms)
  })
  p.catch(() => {}) // a late failure after the timeout must not be unhandled
  try {
    return await Promise.race([p, timeout])
  } catch (e) {
    if (e instanceof StoreUnavailableError) throw e
    throw new StoreUnavailableError(`redis: ${what} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
  } finally {
    clearTimeout(timer)
  }
}

async function shutdown(client: Redis): Promise<void> {
  if (client.status === 'end') return
  try {
    await guarded('quit', client.quit(), 500)
  } catch {
    client.disconnect()
  }
}

// KEYS[1] = counter of this window, KEYS[2] = index of the key's windows (for reset)
// ARGV[1] = time to live in ms
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  local ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('SADD', KEYS[2], KEYS[1])
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return count
`

// KEYS[1] = index of the key's windows
const RESET_SCRIPT = `
local windows = redis.call('SMEMBERS', KEYS[1])
for i = 1, #windows do redis.call('DEL', windows[i]) end
redis.call('DEL', KEYS[1])
return #windows
`

export type RedisRateLimitsOptions =
  | { url: string }
  /** A client you own; `close()` leaves it open. Give it short timeouts, or calls may wait on it. */
  | { client: Redis }

/**
 * Fixed-window counters in Redis, keyed `bastion:rl:<key>:<windowStart>`;
 * one atomic script per hit (INCR, then PEXPIRE on the window's first hit),
 * so a limit holds across every instance sharing the Redis.
 *
 * @example
 * ```ts
 * const limits = redisRateLimits({ url: process.env.REDIS_URL! })
 * const { count, resetAt } = await limits.hit(`login:${ip}`, 60_000, Date.now())
 * ```
 */
export function redisRateLimits(options: RedisRateLimitsOptions): RateLimitStore & { close(): Promise<void> } {
  const own = 'url' in options
  const client = 'url' in options ? connect(options.url) : options.client
  const windowOf = (windowMs: number, now: number) => now - (now % windowMs)
  const counterKey = (key: string, windowStart: number) => `bastion:rl:${key}:${windowStart}`
  const indexKey = (key: string) => `bastion:rlidx:${key}`

  return {
    async hit(key, windowMs, now) {
      const windowStart = windowOf(windowMs, now)
      const resetAt = windowStart + windowMs
      const ttl = resetAt - now + WINDOW_SLACK_MS
      const count = await guarded('hit', client.eval(HIT_SCRIPT, 2, counterKey(key, windowStart), indexKey(key), ttl))
      return { count: Number(count), resetAt }
    },
    async peek(key, windowMs, now) {
      const windowStart = windowOf(windowMs, now)
      const value = await guarded('peek', client.get(counterKey(key, windowStart)))
      return { count: value === null ? 0 : Number(value), resetAt: windowStart + windowMs }
    },
    async reset(key) {
      await guarded('reset', client.eval(RESET_SCRIPT, 1, indexKey(key)))
    },
    async close() {
      if (own) await shutdown(client)
    },
  }
}

export interface RedisRevocationBusOptions {
  url: string
  /** Default `bastion:revocations`. */
  channel?: string
}

/**
 * Revocations over Redis pub/sub: `publish` sends a JSON array of session
 * ids; each instance subscribes on a connection of its own. Pub/sub does not
 * replay what was sent while a subscriber was disconnected, so an instance
 * should also seed its list from `Store.revokedSince` at start.
 *
 * @example
 * ```ts
 * const bus = redisRevocationBus({ url: process.env.REDIS_URL! })
 * const stop = await bus.subscribe((ids) => ids.forEach((id) => revoked.add(id)))
 * await bus.publish(['session-id'])
 * ```
 */
export function redisRevocationBus(options: RedisRevocationBusOptions): RevocationBus {
  const channel = options.channel ?? DEFAULT_REVOCATION_CHANNEL
  const publisher = connect(options.url)
  let subscriber: Redis | undefined
  let subscribed: Promise<unknown> | undefined
  const listeners = new Set<(sessionIds: string[]) => void>()
  let closed = false

  const deliver = (from: string, message: string) => {
    if (from !== channel) return
    let ids: unknown
    try {
      ids = JSON.parse(message)
    } catch {
      return
    }
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) return
    for (const listener of [...listeners]) {
      try {
        listener(ids as string[])
      } catch {
        // One failing listener must not keep the others from hearing of a revocation.
      }
    }
  }

  return {
    async publish(sessionIds) {
      if (sessionIds.length === 0) return
      await guarded('publish', publisher.publish(channel, JSON.stringify(sessionIds)))
    },

    async subscribe(listener) {
      if (closed) throw new StoreUnavailableError('redis: the revocation bus is closed')
      if (subscriber === undefined) {
        // Reconnects forever and resubscribes by itself (ioredis autoResubscribe).
        subscriber = connect(options.url, { maxRetriesPerRequest: null, commandTimeout: undefined })
        subscriber.on('message', deliver)
      }
      listeners.add(listener)
      try {
        subscribed ??= subscriber.subscribe(channel)
        await guarded('subscribe', subscribed, 2_000)
      } catch (e) {
        listeners.delete(listener)
        subscribed = undefined
        throw e
      }
      let active = true
      return async () => {
        if (!active) return
        active = false
        listeners.delete(listener)
        if (listeners.size === 0 && subscriber !== undefined && subscribed !== undefined) {
          subscribed = undefined
          await guarded('unsubscribe', subscriber.unsubscribe(channel)).catch(() => {})
        }
      }
    },

    connected() {
      return subscriber !== undefined && subscribed !== undefined && subscriber.status === 'ready'
    },

    async close() {
      if (closed) return
      closed = true
      listeners.clear()
      await Promise.all([shutdown(publisher), subscriber === undefined ? undefined : shutdown(subscriber)])
    },
  }
}

export type RedisReplayCacheOptions = RedisRateLimitsOptions & {
  /** Key prefix. Default `bastion:dpop:`. */
  prefix?: string
}

/**
 * The DPoP replay cache in Redis: one `SET key 1 PX ttl NX` per proof, so a
 * proof's `jti` used on any instance is refused on every other. Fails closed
 * (`StoreUnavailableError`, answered 503) when Redis cannot answer.
 *
 * @example
 * ```ts
 * const replayCache = redisReplayCache({ url: process.env.REDIS_URL! })
 * await createBastion({ ..., deviceBinding: { replayCache } })
 * ```
 */
export function redisReplayCache(options: RedisReplayCacheOptions): ReplayCache & { close(): Promise<void> } {
  const own = 'url' in options
  const client = 'url' in options ? connect(options.url) : options.client
  const prefix = options.prefix ?? 'bastion:dpop:'
  return {
    async claim(key, expiresAt, now) {
      const ttl = Math.max(1, Math.ceil(expiresAt - now))
      return (await guarded('claim', client.set(`${prefix}${key}`, '1', 'PX', ttl, 'NX'))) === 'OK'
    },
    async close() {
      if (own) await shutdown(client)
    },
  }
}
