import { LiteHeaders } from './lite-headers.ts'

/**
 * A web `Response` whose body is a string known up front (Bastion's JSON
 * answers, and `json()` for application routes): status, headers and text
 * are plain fields, and an undici `Response` (its web stream, its Headers) is
 * made only if something reads what only it has (`body`, `text()`, `clone()`…).
 * The Node adapter writes `text` directly. `instanceof Response` holds, and
 * its headers are a `LiteHeaders`, mutable as a Response's are.
 */
const real: unique symbol = Symbol('bastion.realResponse')

export class LiteResponse {
  readonly status: number
  readonly headers: LiteHeaders
  readonly #text: string | null;
  [real]: Response | undefined

  constructor(text: string | null, status: number, headers: LiteHeaders) {
    this.#text = text
    this.status = status
    this.headers = headers
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300
  }

  get statusText(): string {
    return ''
  }

  get bodyUsed(): boolean {
    return this[real]?.bodyUsed ?? false
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#text === null ? null : this.materialize().body
  }

  /** The body's text while nobody has read it through a stream (then the undici Response owns it). */
  get unreadText(): string | null | undefined {
    return this[real]?.bodyUsed ? undefined : this.#text
  }

  /** The undici Response this one stands for, made once, from the headers as they are now. */
  materialize(): Response {
    return (this[real] ??= new NativeResponse(this.#text, { status: this.status, headers: this.headers as unknown as Headers }))
  }
}

const NativeResponse = globalThis.Response
for (const key of ['type', 'url', 'redirected', 'clone', 'blob', 'arrayBuffer', 'text', 'json', 'formData', 'bytes']) {
  const d = Object.getOwnPropertyDescriptor(NativeResponse.prototype, key)
  if (!d) continue // `bytes()` exists from Node 22
  if (typeof d.value === 'function') {
    Object.defineProperty(LiteResponse.prototype, key, {
      configurable: true,
      writable: true,
      value(this: LiteResponse, ...args: unknown[]) {
        return (this.materialize() as unknown as Record<string, (...a: unknown[]) => unknown>)[key]!(...args)
      },
    })
  } else {
    Object.defineProperty(LiteResponse.prototype, key, {
      configurable: true,
      get(this: LiteResponse) {
        return (this.materialize() as unknown as Record<string, unknown>)[key]
      },
    })
  }
}
// undici reads another Response's internal state through symbols (`new Response(body, response)` does not, but
// its clone and the fetch machinery might): forwarded to the real one.
for (const sym of Object.getOwnPropertySymbols(new NativeResponse(''))) {
  Object.defineProperty(LiteResponse.prototype, sym, {
    configurable: true,
    get(this: LiteResponse) {
      return (this.materialize() as unknown as Record<symbol, unknown>)[sym]
    },
  })
}
Object.defineProperty(LiteResponse.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: LiteResponse) {
    return { status: this.status, headers: Object.fromEntries(this.headers.entries()) }
  },
})
Object.defineProperty(LiteResponse.prototype, Symbol.toStringTag, { get: () => 'Response' })
Object.setPrototypeOf(LiteResponse.prototype, NativeResponse.prototype)

/** A text answer as a `Response` (the lite one: see `LiteResponse`). */
export function liteResponse(text: string | null, status: number, headers: LiteHeaders): Response {
  return new LiteResponse(text, status, headers) as unknown as Response
}
