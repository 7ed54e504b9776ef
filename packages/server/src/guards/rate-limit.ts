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

export interface RateLimiterOptions {
  /**
   * Counters to use while `store` cannot answer (Redis or the database down):
   * per-instance limits instead of none. Without it, such an attempt is
   * refused with 503. Either way nothing fails open.
   */
  fallback?: RateLimitStore
  /** Called once when the shared store fails and once when it answers again. */
  onStateChange?: (state: 'degraded' | 'recovered', error?: unknown) => void
  /** How long to stay on the fallback before asking the shared store again (real time, ms). Default 5000. */
  retryAfterMs?: number
}

/**
 * Counts attempts in a shared store; when that store cannot answer, in the
 * fallback (per instance) for a few seconds before trying it again, so an
 * outage costs neither a limit nor a timeout per login.
 */
export class RateLimiter {
  private degradedUntil = 0
  private degraded = false

  constructor(
    private readonly store: RateLimitStore,
    private readonly now: () => number,
    private readonly options: RateLimiterOptions = {},
  ) {}

  private async run<T>(op: (store: RateLimitStore) => Promise<T>): Promise<T> {
    const { fallback } = this.options
    // Real time, not the configured clock: this is about the network, not token lifetimes.
    if (fallback && this.degraded && performance.now() < this.degradedUntil) return op(fallback)
    try {
      const result = await op(this.store)
      if (this.degraded) {
        this.degraded = false
        this.options.onStateChange?.('recovered')
      }
      return result
    } catch (e) {
      if (e instanceof BastionError) throw e
      if (!fallback) {
        throw new BastionError('unavailable', 'Rate-limit store unavailable; try again shortly.', {
          cause: e instanceof StoreUnavailableError ? e : undefined,
          retryAfter: 5,
        })
      }
      this.degradedUntil = performance.now() + (this.options.retryAfterMs ?? 5_000)
      if (!this.degraded) {
        this.degraded = true
        this.options.onStateChange?.('degraded', e)
      }
      return op(fallback)
    }
  }

  /** Counts one attempt and throws `rate_limited` when it goes over. */
  async consume(key: string, rule: RateLimitRule): Promise<void> {
    const now = this.now()
    const { count, resetAt } = await this.run((s) => s.hit(key, rule.windowSeconds * 1000, now))
    if (count > rule.max) throw limited(resetAt, now)
  }

  /** Forgets `key` everywhere it may have been counted: also in the fallback, which may hold counts from an outage. */
  async reset(key: string): Promise<void> {
    await this.run((s) => s.reset(key))
    await this.options.fallback?.reset(key)
  }
}

function limited(resetAt: number, now: number): BastionError {
  const retryAfter = Math.max(1, Math.ceil((resetAt - now) / 1000))
  return new BastionError('rate_limited', `Too many attempts; try again in ${retryAfter} s.`, { retryAfter })
}
