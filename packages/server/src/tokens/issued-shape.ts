/**
 * The one compact JWS shape Bastion issues, checked before any signature
 * work: three segments of canonical base64url (no padding, no `+/`, no
 * spare bits in the last character, so one token has one spelling), a
 * protected header with no member but `alg`, `kid` and `typ` (so `jku`,
 * `x5u`, `jwk`, `x5c`, `crit`, `b64` are refused even under a valid
 * signature, never silently ignored), and header and payload JSON exactly as
 * `JSON.stringify` writes them (so duplicate keys, which parsers resolve
 * differently, cannot reach the claims).
 */
const HEADER_MEMBERS = new Set(['alg', 'kid', 'typ'])
const B64URL = /^[A-Za-z0-9_-]+$/

/** A base64url segment holding a JSON object exactly as `JSON.stringify` writes it, or null. */
export function canonicalJsonObject(segment: string): Record<string, unknown> | null {
  if (!B64URL.test(segment)) return null
  const bytes = Buffer.from(segment, 'base64url')
  if (bytes.toString('base64url') !== segment) return null
  const text = bytes.toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null
  return JSON.stringify(value) === text ? (value as Record<string, unknown>) : null
}

/** True when `token` could have been issued by Bastion (says nothing of its signature or claims). */
export function hasIssuedShape(token: string): boolean {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) return false
  const signature = token.slice(second + 1)
  if (!B64URL.test(signature) || Buffer.from(signature, 'base64url').toString('base64url') !== signature) return false
  const header = canonicalJsonObject(token.slice(0, first))
  if (!header || !Object.keys(header).every((k) => HEADER_MEMBERS.has(k))) return false
  return canonicalJsonObject(token.slice(first + 1, second)) !== null
}
