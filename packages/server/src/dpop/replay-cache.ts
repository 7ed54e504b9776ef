/**
 * Each DPoP proof is accepted once: its `jti` is remembered for as long as
 * the proof could still pass the freshness check. Like the rate limits, a
 * store-like interface with a per-process implementation here and a shared
 * one in Redis (stores/redis), so a proof used on one instance is refused on
 * every other.
 */
import { StoreUnavailableError } from '../errors.ts'

export interface ReplayCache {
  /**
   * Records `key` until `expiresAt` (ms) and returns true, or returns false if
   * it is already recorded (a replay). Rejects with `StoreUnavailableError`
   * when it cannot remember (full, or the shared store down): the proof is
   * then refused, never let through unremembered.
   */
  claim(key: string, expiresAt: number, now: number): Promise<boolean>
}

export interface MemoryReplayCacheOptions {
  /** Most entries kept at once. Default 100 000 (about 10 MB). */
  maxEntries?: number
}

/**
 * Per-process replay cache, bounded. When full of entries that have not yet
 * expired, a new claim fails closed instead of forgetting an older proof
 * (which would reopen its replay); rate limits on the endpoints keep an
 * honest load far below the bound.
 */
export function memoryReplayCache(options: MemoryReplayCacheOptions = {}): ReplayCache & { readonly size: number } {
  const max = options.maxEntries ?? 100_000
  const entries = new Map<string, number>()
  const sweep = (now: number) => {
    for (const [k, exp] of entries) if (exp <= now) entries.delete(k)
  }
  return {
    get size() {
      return entries.size
    },
    async claim(key, expiresAt, now) {
      const seen = entries.get(key)
      if (seen !== undefined && seen > now) return false
      if (seen === undefined && entries.size >= max) {
        sweep(now)
        if (entries.size >= max) throw new StoreUnavailableError(`dpop replay cache full (${max} live proofs)`)
      }
      // Re-inserted at the end, so insertion order stays close to expiry order.
      entries.delete(key)
      entries.set(key, expiresAt)
      return true
    },
  }
}
