import { createHash, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto'

/**
 * Random bytes from the CSPRNG, drawn 4 KiB at a time: asking `randomBytes`
 * for 16 bytes costs about 3 µs of call overhead, a slice of a filled pool
 * about 0.3 µs (Node's `randomUUID` keeps a pool the same way). Each byte is
 * handed out once; the pool is refilled when what is left would not do.
 */
const POOL = Buffer.alloc(4096)
let used = POOL.length

function draw(bytes: number): number {
  if (used + bytes > POOL.length) {
    randomFillSync(POOL)
    used = 0
  }
  const at = used
  used += bytes
  return at
}

/** `bytes` random bytes, base64url (tokens, ids, nonces). */
export function randomToken(bytes = 32): string {
  if (bytes > POOL.length) return randomFillSync(Buffer.alloc(bytes)).toString('base64url')
  const at = draw(bytes)
  return POOL.toString('base64url', at, at + bytes)
}

/** `bytes` random bytes in a Buffer of their own. */
export function randomBuffer(bytes: number): Buffer {
  if (bytes > POOL.length) return randomFillSync(Buffer.alloc(bytes))
  const at = draw(bytes)
  return Buffer.from(POOL.subarray(at, at + bytes))
}

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('base64url')

export const hmac = (key: Uint8Array, value: string): Buffer => createHmac('sha256', key).update(value).digest()

/** HMAC-SHA256, base64url: the form the MACs in tokens take (about 1.3 µs less than encoding `hmac`'s Buffer). */
export const hmacBase64url = (key: Uint8Array, value: string): string => createHmac('sha256', key).update(value).digest('base64url')

/** Constant-time string comparison; lengths are not secret here (fixed-size tokens). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a)
  const bb = Buffer.from(b)
  return ab.length === bb.length && timingSafeEqual(ab, bb)
}
