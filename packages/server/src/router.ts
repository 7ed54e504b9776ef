import type { Route, RouteHandler, RouteParams } from './context.ts'

export type Match = { handler: RouteHandler; params: RouteParams } | 'wrong-method' | null

export interface Router {
  /** The route for this method and path; `'wrong-method'` when the path exists for other methods; null when no route has the path. */
  match(method: string, path: string): Match
  /** Whether some route has this path (any method). */
  has(path: string): boolean
}

interface Pattern {
  segments: string[]
  /** Ends in `*`: matches any rest of the path (possibly empty). */
  prefix: boolean
  byMethod: Map<string, RouteHandler>
}

const NO_PARAMS: RouteParams = Object.freeze({})

/**
 * Exact paths are one Map lookup (the common case); paths with `:params` or a
 * trailing `*` are tried in the order given. Parameters are percent-decoded;
 * one that does not decode makes the path match nothing.
 */
export function createRouter(routes: Route[]): Router {
  const exact = new Map<string, Map<string, RouteHandler>>()
  const patterns: Pattern[] = []
  for (const r of routes) {
    const dynamic = r.path.includes('/:') || r.path.endsWith('*')
    if (!dynamic) {
      let byMethod = exact.get(r.path)
      if (!byMethod) exact.set(r.path, (byMethod = new Map()))
      if (byMethod.has(r.method)) throw new Error(`Two routes for ${r.method} ${r.path}.`)
      byMethod.set(r.method, r.handler)
      continue
    }
    const prefix = r.path.endsWith('*')
    const segments = (prefix ? r.path.slice(0, -1).replace(/\/$/, '') : r.path).split('/')
    let p = patterns.find((x) => x.prefix === prefix && x.segments.join('/') === segments.join('/'))
    if (!p) patterns.push((p = { segments, prefix, byMethod: new Map() }))
    p.byMethod.set(r.method, r.handler)
  }

  // Every first segment a route can have ('auth', '.well-known', …): a path starting with any other matches nothing,
  // which `has` answers without trying the patterns (it is asked about every application request). Unknown when a
  // route starts with a parameter or a wildcard.
  const firstOf = (path: string) => {
    const end = path.indexOf('/', 1)
    return end < 0 ? path : path.slice(0, end)
  }
  const firsts: Set<string> | null = routes.some((r) => /^\/(:|\*)/.test(r.path)) ? null : new Set(routes.map((r) => firstOf(r.path)))

  function matchPattern(p: Pattern, parts: string[]): RouteParams | null {
    if (p.prefix ? parts.length < p.segments.length : parts.length !== p.segments.length) return null
    let params: Record<string, string> | undefined
    for (let i = 0; i < p.segments.length; i++) {
      const seg = p.segments[i]!
      const part = parts[i]!
      if (seg.startsWith(':')) {
        if (part === '') return null
        let value: string
        try {
          value = decodeURIComponent(part)
        } catch {
          return null
        }
        ;(params ??= {})[seg.slice(1)] = value
      } else if (seg !== part) return null
    }
    return params ?? NO_PARAMS
  }

  const pick = (byMethod: Map<string, RouteHandler>, method: string) => byMethod.get(method) ?? byMethod.get('*')

  return {
    match(method, path) {
      const byMethod = exact.get(path)
      if (byMethod) {
        const handler = pick(byMethod, method)
        return handler ? { handler, params: NO_PARAMS } : 'wrong-method'
      }
      const parts = path.split('/')
      let found = false
      for (const p of patterns) {
        const params = matchPattern(p, parts)
        if (!params) continue
        const handler = pick(p.byMethod, method)
        if (handler) return { handler, params }
        found = true
      }
      return found ? 'wrong-method' : null
    },
    has(path) {
      if (exact.has(path)) return true
      if (firsts !== null && !firsts.has(firstOf(path))) return false
      const parts = path.split('/')
      return patterns.some((p) => matchPattern(p, parts) !== null)
    },
  }
}
