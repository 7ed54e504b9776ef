import type { RateLimitRule } from '../config.ts'
import { BastionError, StoreUnavailableError } from '../errors.ts'
import type { RateLimitStore } from '../store.ts'

/** Counters in this process only: right for one instance, wrong behind a load balancer. */
export function memoryRateLimits(): RateLimitStore {
  const windows = new Map<string, { start: number; end: number; count: number }>()
  const at = (key: string, windowMs: number, now: number) => {
    const start = now - (now % windowMs)
    let w = windows.get(key)
    if (!w && windows.size >= 50_000) {
      // Bounded: an attacker cycling usernames or addresses must not grow this forever.
      for (const [k, v] of windows) if (v.end <= now) windows.delete(k)
      if (windows.size >= 50_000) windows.delete(windows.keys().next().value!)
    }
    if (!w || w.start !== start) {
      w = { start, end: start + windowMs, count: 0 }
      windows.set(key, w)
    }
    return w
  }
  return {
    async hit(key, windowMs, now) {
      const w = at(key, windowMs, now)
      w.count++
      return { count: w.count, resetAt: w.start + windowMs }
    },
    async peek(key, windowMs, now) {
      const w = at(key, windowMs, now)
      return { count: w.count, resetAt: w.start + windowMs }
    },
    async reset(key) {
      windows.delete(key)
    },
  }
}

/** Fails closed: a counter store that cannot answer refuses the attempt. */
export class RateLimiter {
  constructor(
    private readonly store: RateLimitStore,
    private readonly now: () => number,
  ) {}

  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op()
    } catch (e) {
      if (e instanceof BastionError) throw e
      throw new BastionError('unavailable', 'Rate-limit store unavailable; try again shortly.', {
        cause: e instanceof StoreUnavailableError ? e : undefined,
        retryAfter: 5,
      })
    }
  }

  /** Counts one attempt and throws `rate_limited` when it goes over. */
  async consume(key: string, rule: RateLimitRule): Promise<void> {
    const now = this.now()
    const { count, resetAt } = await this.guard(() => this.store.hit(key, rule.windowSeconds * 1000, now))
    if (count > rule.max) throw limited(resetAt, now)
  }

  async reset(key: string): Promise<void> {
    await this.guard(() => this.store.reset(key))
  }
}

function limited(resetAt: number, now: number): BastionError {
  const retryAfter = Math.max(1, Math.ceil((resetAt - now) / 1000))
  return new BastionError('rate_limited', `Too many attempts; try again in ${retryAfter} s.`, { retryAfter })
}
