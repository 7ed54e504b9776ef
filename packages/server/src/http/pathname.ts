/**
 * A request's pathname without parsing its URL where that is safe. An adapter
 * whose Request knows the raw request target (the Node adapter's) exposes it
 * under `REQUEST_TARGET`; a target made only of characters a URL keeps as
 * they are, with no dot segment, is its own pathname. Anything else is parsed.
 */
export const REQUEST_TARGET: unique symbol = Symbol('bastion.requestTarget')

/** A path made only of characters a URL keeps as they are (no escape, so no escaped dot segment either). */
export const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/
/** A `.` or `..` segment, which a URL resolves away. */
export const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/

/** The pathname of `request.url`, or `null` when no URL can be made of it. */
export function pathnameOf(request: { readonly url: string }): string | null {
  const target = (request as { [REQUEST_TARGET]?: string })[REQUEST_TARGET]
  if (typeof target === 'string') {
    const q = target.indexOf('?')
    const path = q < 0 ? target : target.slice(0, q)
    if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) return path
  }
  try {
    return new URL(request.url).pathname
  } catch {
    return null
  }
}
