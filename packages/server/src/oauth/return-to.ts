/**
 * Where the browser lands after a provider sign-in. Only a path on this very
 * origin is accepted: an absolute URL, a scheme-relative `//evil`, a
 * backslash (`/\evil`, which browsers read as `//evil`), or any control or
 * whitespace character (`/\tevil`, stripped by URL parsers into `//evil`)
 * would turn the callback into an open redirect (RFC 9700 §4.11).
 *
 * @example
 * ```ts
 * safeReturnTo('/account?tab=2')        // '/account?tab=2'
 * safeReturnTo('https://evil.example')  // null
 * ```
 */
export function safeReturnTo(raw: unknown, maxLength = 512): string | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > maxLength) return null
  if (raw[0] !== '/' || raw[1] === '/' || raw[1] === '\\') return null
  // Controls, whitespace and backslashes anywhere: no legitimate path needs them unencoded.
  if (/[\u0000-\u0020\u007f-\u009f\\\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]/.test(raw)) return null
  // Belt and braces: the path must resolve on the origin it was given, whatever the parser's quirks.
  const base = 'http://return-to.invalid'
  let url: URL
  try {
    url = new URL(raw, base)
  } catch {
    return null
  }
  if (url.origin !== base) return null
  return url.pathname + url.search + url.hash
}
