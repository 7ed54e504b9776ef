/**
 * One request header's value without building the request's `Headers`.
 *
 * An adapter whose Request keeps the raw header pairs (the Node adapter's lazy
 * request) answers under `HEADER_OF` by scanning them: a guarded GET reads two
 * or three headers, and building a `Headers` of all of them was most of what
 * the guard cost there. Any other request answers through `headers.get`. The
 * answer is the same either way: `headers.get`'s (names matched without case,
 * repeated values joined with ", ", or "; " for `cookie`).
 */
export const HEADER_OF: unique symbol = Symbol('bastion.headerOf')

type Peekable = { readonly headers: { get(name: string): string | null }; readonly [HEADER_OF]?: (name: string) => string | null }

/** `request.headers.get(name)` (any case), without building the Headers where the request can avoid it. */
export function headerOf(request: { readonly headers: { get(name: string): string | null } }, name: string): string | null {
  const peek = (request as Peekable)[HEADER_OF]
  return typeof peek === 'function' ? peek.call(request, name) : request.headers.get(name)
}
