import type { RateLimitRule, ResolvedConfig } from '../config.ts'
import { BastionError, StoreConflictError } from '../errors.ts'
import type { RequestInfo } from '../guards/request-info.ts'
import type { RateLimiter } from '../guards/rate-limit.ts'
import { stringField } from '../http/body.ts'
import type { PasswordHasher } from '../passwords.ts'
import { isValidUsername, normalizeUsername } from '../sessions.ts'
import { NO_PASSWORD, type Store, type UserRecord } from '../store.ts'

export type ThrottleScope = 'login_address' | 'login_account' | 'register_address'

/** Accounts and passwords: reading, checking (rate-limited, constant work), creating. */
export interface Credentials {
  /** `username` (normalized) and `password` from a JSON body, bounded. */
  read(body: Record<string, unknown>): { username: string; password: string }
  /** Counts one attempt; a refusal is logged (`rate_limited`, with the limit's scope, never the username tried). */
  throttle(scope: ThrottleScope, key: string, rule: RateLimitRule, info: RequestInfo): Promise<void>
  /** Same work and same answer for an unknown user as for a wrong password. */
  check(username: string, password: string, info: RequestInfo): Promise<UserRecord>
  /** Length and not-the-username rules for a new password; throws `bad_request`. */
  checkNew(password: string, username: string): void
  createUser(rawUsername: string, password: string): Promise<UserRecord>
  /** An argon2id hash of a new password (through the hashing gate). */
  hash(password: string): Promise<string>
}

export function credentials(config: ResolvedConfig, store: Store, limiter: RateLimiter, hasher: PasswordHasher): Credentials {
  const { now } = config

  async function throttle(scope: ThrottleScope, key: string, rule: RateLimitRule, info: RequestInfo): Promise<void> {
    try {
      await limiter.consume(key, rule)
    } catch (e) {
      if (e instanceof BastionError && e.code === 'rate_limited') {
        config.log({ level: 'warn', event: 'rate_limited', scope, ip: info.clientIp, retryAfter: e.retryAfter })
      }
      throw e
    }
  }

  function checkNew(password: string, username: string): void {
    if (password.length < config.password.minLength) {
      throw new BastionError('bad_request', `The password must have at least ${config.password.minLength} characters.`)
    }
    if (password.toLowerCase() === username) throw new BastionError('bad_request', 'The password must not be the username.')
  }

  return {
    read(body) {
      const username = normalizeUsername(stringField(body, 'username', { max: 256 }))
      const password = stringField(body, 'password', { max: config.password.maxLength })
      return { username, password }
    },
    throttle,
    async check(username, password, info) {
      const { loginPerAccount, loginPerAddress } = config.rateLimit
      await throttle('login_address', `login:ip:${info.clientIp}`, loginPerAddress, info)
      // Counted before the verdict, not after: parallel guesses cannot all slip in under the limit.
      await throttle('login_account', `login:user:${username}`, loginPerAccount, info)
      const user = isValidUsername(username) ? await store.findUserByUsername(username) : null
      // An account made by a provider sign-in has no password: it takes the dummy hash's path (same work), then fails.
      const ok = await hasher.verify(user && user.passwordHash !== NO_PASSWORD ? user.passwordHash : null, password)
      if (!ok || !user) {
        // The account's id when it exists, never the name typed (it may be a password typed in the wrong field).
        config.log({ level: 'warn', event: 'login_failed', reason: user ? 'wrong_password' : 'unknown_user', ...(user ? { user: user.id } : {}), ip: info.clientIp })
        throw new BastionError('invalid_credentials', 'Wrong username or password.')
      }
      await limiter.reset(`login:user:${username}`)
      if (hasher.needsRehash(user.passwordHash)) {
        const passwordHash = await hasher.hash(password)
        await store.setPasswordHash(user.id, passwordHash)
        user.passwordHash = passwordHash
      }
      return user
    },
    checkNew,
    hash: (password) => hasher.hash(password),
    async createUser(rawUsername, password) {
      const username = normalizeUsername(rawUsername)
      if (!isValidUsername(username)) {
        throw new BastionError('bad_request', 'The username must be 3 to 64 characters: letters, digits, ".", "_" or "-", starting with a letter or digit.')
      }
      checkNew(password, username)
      if (password.length > config.password.maxLength) throw new BastionError('bad_request', `The password must have at most ${config.password.maxLength} characters.`)
      const user: UserRecord = { id: crypto.randomUUID(), username, passwordHash: await hasher.hash(password), createdAt: now() }
      try {
        await store.createUser(user)
      } catch (e) {
        if (e instanceof StoreConflictError) throw new BastionError('bad_request', 'That username is not available.')
        throw e
      }
      return user
    },
  }
}
