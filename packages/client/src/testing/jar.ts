/**
 * A cookie jar for tests. Node's fetch keeps no cookies (and happy-dom's
 * document.cookie is not linked to it), so tests route the client's fetch
 * through a jar: it plays the browser's cookie store, and `jar.get` plays
 * document.cookie for the client's `readCookie` option. Requests still go
 * over real sockets.
 */

import { request as httpRequest } from 'node:http'

export class CookieJar {
  readonly cookies = new Map<string, string>()

  get = (name: string): string | undefined => this.cookies.get(name)

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(/; */)
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      const expired = attributes.some((a) => /^max-age=0$/i.test(a))
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, pair.slice(eq + 1))
    }
  }

  /** Node's own fetch (undici) with this jar. */
  fetch: typeof fetch = async (input, init = {}) => {
    const headers = new Headers(init.headers)
    if (this.cookies.size) headers.set('cookie', this.header())
    const res = await globalThis.fetch(input, { ...init, headers })
    this.store(res.headers.getSetCookie())
    return res
  }

  /**
   * fetch over node:http, for DOM test environments whose global fetch is
   * the DOM library's (with its own cookie and CORS rules). String bodies only.
   */
  httpFetch: typeof fetch = (input, init = {}) =>
    new Promise((resolve, reject) => {
      const url = typeof input == 'string' ? input : input instanceof URL ? input.href : input.url
      const headers: Record<string, string> = {}
      new Headers(init.headers).forEach((value, name) => (headers[name] = value))
      if (this.cookies.size) headers.cookie = this.header()
      const req = httpRequest(url, { method: init.method ?? 'GET', headers }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const setCookie = res.headers['set-cookie'] ?? []
          this.store(setCookie)
          const out = new Headers()
          for (const [name, value] of Object.entries(res.headers))
            if (name != 'set-cookie' && typeof value == 'string') out.set(name, value)
          const status = res.statusCode ?? 500
          const body = status == 204 || status == 304 ? null : Buffer.concat(chunks).toString()
          resolve(new Response(body, { status, headers: out }))
        })
      })
      req.on('error', reject)
      if (typeof init.body == 'string') req.write(init.body)
      req.end()
    })
}
