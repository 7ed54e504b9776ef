import { availableParallelism } from 'node:os'
import { hash, verify } from '@node-rs/argon2'
import { BastionError, ConfigError } from './errors.ts'

/** OWASP Password Storage Cheat Sheet, argon2id: 19 MiB, 2 passes, 1 lane. */
export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

// Algorithm.Argon2id is a const enum in the package's types, unusable under isolatedModules.
const ARGON2ID = 2

export interface HashingLimits {
  /**
   * Hashes computed at once. Each holds a core for tens of milliseconds; left to
   * libuv's four threads, a flood of logins takes the event loop's core too and
   * every API request waits. Default: the number of cores minus one, at least 1.
   */
  concurrency?: number
  /** Hashes that may wait for a turn; beyond it a login answers 503 `unavailable` at once. Default 128. */
  queue?: number
}

/** At most `concurrency` tasks at once, at most `queue` waiting, first come first served. */
class Gate {
  private running = 0
  private readonly waiting: Array<() => void> = []

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) {
        throw new BastionError('unavailable', 'Too many sign-ins at once; try again shortly.', { retryAfter: 1 })
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
    this.running++
    try {
      return await task()
    } finally {
      this.running--
      this.waiting.shift()?.()
    }
  }
}

export class PasswordHasher {
  readonly params: Argon2Params
  /** A real hash of a random password, verified for unknown users so they cost the same as wrong passwords. */
  private dummy: Promise<string>
  private readonly gate: Gate

  constructor(params: Argon2Params = OWASP_ARGON2ID, limits: HashingLimits = {}) {
    this.params = params
    const concurrency = limits.concurrency ?? Math.max(1, availableParallelism() - 1)
    const queue = limits.queue ?? 128
    if (!(Number.isInteger(concurrency) && concurrency >= 1 && Number.isInteger(queue) && queue >= 0)) {
      throw new ConfigError('passwordHashing: concurrency must be an integer ≥ 1 and queue an integer ≥ 0.')
    }
    this.gate = new Gate(concurrency, queue)
    this.dummy = this.hash(crypto.randomUUID())
  }

  hash(password: string): Promise<string> {
    return this.gate.run(() => hash(password, { ...this.params, algorithm: ARGON2ID }))
  }

  async verify(passwordHash: string | null, password: string): Promise<boolean> {
    const target = passwordHash ?? (await this.dummy)
    return this.gate.run(async () => {
      let ok: boolean
      try {
        ok = await verify(target, password)
      } catch {
        ok = false
      }
      return ok && passwordHash !== null
    })
  }

  /** True when the stored hash was made with other parameters (or another algorithm) and should be redone at login. */
  needsRehash(passwordHash: string): boolean {
    const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(passwordHash)
    if (!m) return true
    return Number(m[1]) !== this.params.memoryCost || Number(m[2]) !== this.params.timeCost || Number(m[3]) !== this.params.parallelism
  }
}
