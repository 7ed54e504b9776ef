/**
 * Server nonces for clients whose clock is off (RFC 9449 §8): instead of
 * trusting the client's `iat`, the server hands out a value only it can make,
 * and a proof carrying a recent one is fresh by the server's own clock.
 * Stateless: an HMAC of the current time slot, so every instance sharing the
 * secret accepts every other's nonces without a store.
 */
import { hmac, safeEqual } from '../crypto/encoding.ts'

export interface NonceOptions {
  /** Key derived from the server secret. */
  key: Uint8Array
  /** Length of a slot, seconds; a nonce verifies in its slot and the next, so it lives 1 to 2 slots. Default 60. */
  slotSeconds?: number
  now: () => number
}

export interface Nonces {
  /** The nonce of the current slot. */
  issue(): string
  /** Whether `nonce` is the current or the previous slot's. */
  valid(nonce: string): boolean
  /** Longest time, ms, a nonce verifies (a replay cache must remember a jti at least this long). */
  readonly lifetimeMs: number
}

export function dpopNonces(options: NonceOptions): Nonces {
  const slotMs = (options.slotSeconds ?? 60) * 1000
  const of = (slot: number) => `n${slot.toString(36)}.${hmac(options.key, `dpop-nonce:${slot}`).subarray(0, 18).toString('base64url')}`
  const slotNow = () => Math.floor(options.now() / slotMs)
  return {
    issue: () => of(slotNow()),
    valid(nonce) {
      if (typeof nonce !== 'string' || nonce.length > 64) return false
      const s = slotNow()
      return safeEqual(nonce, of(s)) || safeEqual(nonce, of(s - 1))
    },
    lifetimeMs: 2 * slotMs,
  }
}
