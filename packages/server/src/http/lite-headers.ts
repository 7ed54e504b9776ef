/**
 * A `Headers` that costs a `Map`, not an undici object: the Node adapter
 * builds one per request (from the parsed raw headers, on first read) and the
 * fast JSON responses carry one. It answers like undici's `Headers` (names
 * lower-cased and sorted when iterated, repeated values joined with ", ", or
 * "; " for `cookie`, each `set-cookie` on its own, the same validation), and
 * `instanceof Headers` holds, so `new Headers(h)`, `new Request(url, { headers: h })`
 * and frameworks that check the class accept it.
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** What undici refuses in a value once leading and trailing whitespace is gone. */
const BAD_VALUE = /[\0\r\n]/
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g

/** Names already checked, with their lower-case form: a server sees the same few dozen names all day. Bounded. */
const checked = new Map<string, string>()

function checkName(name: string): string {
  const known = checked.get(name)
  if (known !== undefined) return known
  if (!TOKEN.test(name)) throw new TypeError(`Headers: invalid header name "${name}".`)
  const lower = name.toLowerCase()
  if (checked.size < 1024) checked.set(name, lower)
  return lower
}

const isWhitespace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13

/** A raw value as `Headers` holds it (edge whitespace trimmed), or null for one undici refuses. */
export function headerValue(value: string): string | null {
  let v = typeof value === 'string' ? value : String(value)
  if (v.length > 0 && (isWhitespace(v.charCodeAt(0)) || isWhitespace(v.charCodeAt(v.length - 1)))) v = v.replace(EDGE_WHITESPACE, '')
  return BAD_VALUE.test(v) ? null : v
}

/**
 * `headers.get(name)` of the Headers that raw header pairs (`IncomingMessage.rawHeaders`) would make, read off the
 * pairs without making it: names matched without case, values as `headerValue` keeps them (one it would drop is
 * skipped), repeated ones joined with ", ", or "; " for `cookie`.
 */
export function rawHeaderOf(raw: readonly string[], name: string): string | null {
  const lower = name.toLowerCase()
  let found: string | null = null
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!
    if (n.length !== lower.length || (n !== lower && n.toLowerCase() !== lower)) continue
    const v = headerValue(raw[i + 1]!)
    if (v === null) continue
    found = found === null ? v : found + (lower === 'cookie' ? '; ' : ', ') + v
  }
  return found
}

function normalizeValue(value: string): string {
  const v = headerValue(value)
  if (v === null) throw new TypeError('Headers: invalid header value.')
  return v
}

export class LiteHeaders {
  /** Lower-cased name → combined value; `set-cookie` lives in `cookies`. */
  private readonly map = new Map<string, string>()
  private readonly cookies: string[] = []
  private sorted: string[] | undefined

  /**
   * Pairs as a client sent them (Node's `rawHeaders`: name, value, name, value…),
   * or any `HeadersInit`. A pair undici would refuse is dropped from `raw`
   * (a request is not failed over one header) and thrown for an init.
   */
  static fromRaw(raw: readonly string[]): LiteHeaders {
    const h = new LiteHeaders()
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!
      if (name.charCodeAt(0) === 58) continue // an HTTP/2 pseudo-header (":path")
      try {
        h.append(name, raw[i + 1]!)
      } catch {
        // Refused by the rules undici applies: dropped, as the undici path did.
      }
    }
    return h
  }

  constructor(init?: Record<string, string> | Iterable<readonly [string, string]>) {
    if (!init) return
    if (Symbol.iterator in init) for (const [k, v] of init as Iterable<readonly [string, string]>) this.append(k, v)
    else for (const k of Object.keys(init)) this.append(k, (init as Record<string, string>)[k]!)
  }

  append(name: string, value: string): void {
    const key = checkName(name)
    const v = normalizeValue(value)
    if (key === 'set-cookie') {
      this.cookies.push(v)
      this.sorted = undefined
      return
    }
    const old = this.map.get(key)
    if (old === undefined) {
      this.map.set(key, v)
      this.sorted = undefined
    } else this.map.set(key, old + (key === 'cookie' ? '; ' : ', ') + v)
  }

  set(name: string, value: string): void {
    const key = checkName(name)
    const v = normalizeValue(value)
    if (key === 'set-cookie') this.cookies.splice(0, this.cookies.length, v)
    else this.map.set(key, v)
    this.sorted = undefined
  }

  delete(name: string): void {
    const key = checkName(name)
    if (key === 'set-cookie') this.cookies.length = 0
    else this.map.delete(key)
    this.sorted = undefined
  }

  get(name: string): string | null {
    const v = this.map.get(name) ?? this.map.get(name.toLowerCase())
    if (v !== undefined) return v
    const key = checkName(name)
    if (key === 'set-cookie') return this.cookies.length > 0 ? this.cookies.join(', ') : null
    return null
  }

  has(name: string): boolean {
    if (this.map.has(name)) return true
    const key = checkName(name)
    return key === 'set-cookie' ? this.cookies.length > 0 : this.map.has(key)
  }

  getSetCookie(): string[] {
    return [...this.cookies]
  }

  /** Node's outgoing form: one value per name, `set-cookie` as a list (no sorting, no copies of values). */
  toOutgoing(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {}
    for (const [k, v] of this.map) out[k] = v
    if (this.cookies.length > 0) out['set-cookie'] = [...this.cookies]
    return out
  }

  forEach(callback: (value: string, name: string, headers: LiteHeaders) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this)
  }

  *entries(): IterableIterator<[string, string]> {
    this.sorted ??= [...this.map.keys(), ...(this.cookies.length > 0 ? ['set-cookie'] : [])].sort()
    for (const k of this.sorted) {
      if (k === 'set-cookie') for (const c of [...this.cookies]) yield [k, c]
      else {
        const v = this.map.get(k)
        if (v !== undefined) yield [k, v]
      }
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k
  }

  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()
  }

  get [Symbol.toStringTag](): string {
    return 'Headers'
  }
}

// `instanceof Headers` for code that checks it; every method Headers has is defined above, so none of undici's
// (which would look for its private state) is ever reached through the chain.
Object.setPrototypeOf(LiteHeaders.prototype, Headers.prototype)

Object.defineProperty(LiteHeaders.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: LiteHeaders) {
    return Object.fromEntries(this.entries())
  },
})
