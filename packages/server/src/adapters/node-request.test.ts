import net from 'node:net'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseCookies } from '../http/cookies.ts'
import { pathnameOf } from '../http/pathname.ts'
import { ALICE, ALLOWED_ORIGIN, client, CookieJar, createTestBastion, listen, type StartedApp } from './conformance.ts'
import { Readable } from 'node:stream'
import { nodeListener, toNodeListener, toWebRequest } from './node.ts'
import { allowLazyRequestCopies, isNodeRequest, lazyRequestCopies, nodeRequest, requestUrl } from './node-request.ts'
import { headerOf } from '../http/header-of.ts'
import { LiteHeaders } from '../http/lite-headers.ts'
import { json } from '../http/respond.ts'

/** Sends raw bytes on a fresh connection and answers everything the server sent back (it closes the connection). */
function rawExchange(url: string, bytes: Buffer, timeoutMs = 5000): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(bytes))
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('no complete answer in time')))
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.on('error', reject)
  })
}

const bodyOf = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4)

/** Everything application code (and the guards) can see of a request, as JSON (headers as iterated, each name's get, cookies, body). */
async function describeRequest(request: Request, names: string[]): Promise<unknown> {
  return {
    // First, before anything builds the request's Headers: what the guards read through headerOf.
    peek: names.map((n) => headerOf(request, n)),
    method: request.method,
    url: request.url,
    pathname: pathnameOf(request),
    entries: [...request.headers],
    get: names.map((n) => request.headers.get(n)),
    setCookie: request.headers.getSetCookie(),
    cookies: [...parseCookies(request.headers.get('cookie'))],
    body: request.method === 'GET' || request.method === 'HEAD' ? null : await request.text(),
    instance: request instanceof Request,
  }
}

/** A server that answers, as JSON, what `make` builds from the request (the names to `get` come in X-Names). */
function describer(make: (req: IncomingMessage) => Request): Server {
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const names = String(req.headers['x-names'] ?? '').split(',').filter(Boolean)
      const request = make(req)
      const direct = await describeRequest(request, names)
      const text = JSON.stringify(direct)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' }).end(text)
    } catch (e) {
      res.writeHead(500, { connection: 'close' }).end(String(e))
    }
  })
}

/**
 * The reference, written here rather than taken from the adapter so that it shares none of its code: an undici
 * Request from the request line, every raw header pair and the body stream, as a server would build one.
 */
function undiciRequest(req: IncomingMessage): Request {
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
  const method = req.method!
  const body = method === 'GET' || method === 'HEAD' ? null : (Readable.toWeb(req) as ReadableStream<Uint8Array>)
  return new Request(new URL(`http://${req.headers.host}${req.url}`), { method, headers, body, duplex: 'half' } as RequestInit)
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const headerName = fc.oneof(fc.constantFrom('Cookie', 'cookie', 'Set-Cookie', 'Accept', 'X-Dup', 'x-dup', 'Origin', 'Authorization'), fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/))
const headerValue = fc.oneof(fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/), fc.constantFrom('caf\u00e9 \u00ff', 'a,b', '  spaced  '))
const cookiePair = fc.tuple(fc.stringMatching(/^[A-Za-z_-][A-Za-z0-9_-]{0,8}$/), fc.stringMatching(/^[A-Za-z0-9._~=-]{0,16}$/))
// Half the paths only of characters a URL keeps as they are (the routing shortcut's case, dot segments included),
// half with any: escapes, characters a URL escapes, "//".
const plainChar = fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,;=:@/'.split(''), '/./', '/../', '..', '.', '//')
const anyChar = fc.oneof(plainChar, fc.constantFrom(...'%"<>`{}|^'.split(''), '%41', '%zz', '%2e'))
const path = fc.oneof(fc.array(plainChar, { maxLength: 12 }), fc.array(anyChar, { maxLength: 12 })).map((cs) => '/' + cs.join(''))
// toWebRequest (Express's path) must agree too: checked on the same random requests.
const viaToWebRequest = (req: IncomingMessage) => toWebRequest(req)
const query = fc.option(fc.stringMatching(/^[A-Za-z0-9=&%._~'-]{0,20}$/), { nil: undefined })
const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')

const requestBytes = fc.record({
  method,
  path,
  query,
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 10 }),
  cookies: fc.array(fc.array(cookiePair, { minLength: 1, maxLength: 4 }), { maxLength: 2 }),
  body: fc.string({ unit: 'grapheme', maxLength: 200 }),
})

describe('the lazy Request over an IncomingMessage', () => {
  let lazy: StartedApp
  let reference: StartedApp
  let express: StartedApp
  beforeAll(async () => {
    express = await listen(describer(viaToWebRequest))
    lazy = await listen(describer((req) => nodeRequest(req)))
    reference = await listen(describer(undiciRequest))
  })
  afterAll(async () => {
    await lazy?.close()
    await reference?.close()
    await express?.close()
  })

  it('shows what an undici Request built from the same bytes shows: method, URL, pathname, headers, cookies, body (random requests)', async () => {
    await fc.assert(
      fc.asyncProperty(requestBytes, async (r) => {
        const headers = [...r.headers.filter(([n]) => TOKEN.test(n))]
        for (const pairs of r.cookies) headers.push(['Cookie', pairs.map(([k, v]) => `${k}=${v}`).join('; ')])
        const names = [...new Set(headers.map(([n]) => n))]
        const hasBody = r.method !== 'GET' && r.method !== 'HEAD'
        const body = Buffer.from(hasBody ? r.body : '', 'utf8')
        const head = [
          `${r.method} ${r.path}${r.query === undefined ? '' : `?${r.query}`} HTTP/1.1`,
          'Host: example.test:8080',
          'Connection: close',
          `X-Names: ${names.join(',') || '-'}`,
          ...headers.map(([n, v]) => `${n}: ${v}`),
          ...(hasBody ? [`Content-Length: ${body.length}`] : []),
        ].join('\r\n')
        const bytes = Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), body])
        const [a, b, c] = await Promise.all([rawExchange(lazy.url, bytes), rawExchange(reference.url, bytes), rawExchange(express.url, bytes)])
        expect(a.split('\r\n')[0]).toBe(b.split('\r\n')[0])
        expect(c.split('\r\n')[0]).toBe(b.split('\r\n')[0])
        if (r.method === 'HEAD') return // no body in the answer to compare
        expect(b.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 (200|400)/)
        expect(JSON.parse(bodyOf(a) || 'null')).toEqual(JSON.parse(bodyOf(b) || 'null'))
        expect(JSON.parse(bodyOf(c) || 'null')).toEqual(JSON.parse(bodyOf(b) || 'null'))
      }),
      { numRuns: 120 },
    )
  }, 60_000)

  it('is a Request: instanceof holds, new Request(request) and clone() copy method, URL, headers and body (the default request on this runtime)', async () => {
    // Lazy where undici copies another Request through symbols (Node 20, 22); an undici Request where it reads private fields (24+).
    expect(lazyRequestCopies).toBe(Number(process.versions.node.split('.')[0]) < 24)
    const server = await listen(
      createServer(
        nodeListener(async (request) => {
          // clone() first: like undici's, `new Request(request)` takes the body over and leaves the original used.
          const clone = request.clone()
          const copy = new Request(request)
          const seen = {
            instance: request instanceof Request,
            lazy: isNodeRequest(request),
            copy: { method: copy.method, url: copy.url, x: copy.headers.get('x-one'), body: await copy.text() },
            clone: { method: clone.method, url: clone.url, x: clone.headers.get('x-one'), body: await clone.text() },
          }
          return new Response(JSON.stringify(seen), { headers: { 'content-type': 'application/json' } })
        }),
      ),
    )
    try {
      const res = await fetch(`${server.url}/a/b?c=d`, { method: 'PUT', headers: { 'X-One': '1', 'content-type': 'text/plain' }, body: 'the body' })
      const url = `${server.url}/a/b?c=d`
      expect(await res.json()).toEqual({
        instance: true,
        lazy: lazyRequestCopies,
        copy: { method: 'PUT', url, x: '1', body: 'the body' },
        clone: { method: 'PUT', url, x: '1', body: 'the body' },
      })
    } finally {
      await server.close()
    }
  })

  it("a guarded GET and Bastion's CORS decoration read their headers without building the request's Headers", async () => {
    const { bastion, cleanup } = await createTestBastion()
    const server = await listen(
      createServer(
        toNodeListener(bastion, async (request, ctx) => {
          const guarded = await bastion.guard(request, ctx)
          if (!guarded.ok) return guarded.response
          // An application that reads a header itself builds them, which shows the count counts.
          if (new URL(request.url).pathname === '/reads') request.headers.get('x-app')
          return json({ user: guarded.identity.username })
        }, { request: 'lazy' }),
      ),
    )
    const built = vi.spyOn(LiteHeaders, 'fromRaw')
    try {
      const jar = new CookieJar()
      const call = client(() => server.url)
      const { csrfToken } = (await (await call('/auth/csrf', { jar })).json()) as { csrfToken: string }
      expect((await call('/auth/login', { jar, csrf: csrfToken, body: ALICE })).status).toBe(200)
      built.mockClear()
      const me = await call('/me', { jar, headers: { origin: ALLOWED_ORIGIN } })
      expect(me.status).toBe(200)
      expect(me.headers.get('access-control-allow-origin')).toBe(ALLOWED_ORIGIN)
      expect(built).not.toHaveBeenCalled()
      expect((await call('/reads', { jar })).status).toBe(200)
      expect(built).toHaveBeenCalledTimes(1)
    } finally {
      built.mockRestore()
      await server.close()
      await cleanup()
    }
  })

  it('the lazy request builds no undici Request for a request whose body, clone and signal are never asked for', async () => {
    const Native = globalThis.Request
    let built = 0
    globalThis.Request = class extends Native {
      constructor(...args: ConstructorParameters<typeof Request>) {
        super(...args)
        built++
      }
    } as typeof Request
    const server = await listen(
      createServer(
        nodeListener(async (request) => {
          const seen = { url: request.url, cookie: request.headers.get('cookie'), method: request.method, body: request.method === 'POST' ? await request.text() : request.body }
          return new Response(JSON.stringify(seen), { headers: { 'content-type': 'application/json' } })
        }, { request: 'lazy' }),
      ),
    )
    try {
      const before = built
      const res = await fetch(`${server.url}/x`, { headers: { cookie: 'a=1' } })
      expect(await res.json()).toEqual({ url: `${server.url}/x`, cookie: 'a=1', method: 'GET', body: null })
      expect(built - before).toBe(0)
      // And the count does count: a body read builds one.
      await fetch(`${server.url}/x`, { method: 'POST', body: 'b' })
      expect(built - before).toBe(1)
    } finally {
      globalThis.Request = Native
      await server.close()
    }
  })

  it("aborts the request's signal when the client goes away before the answer (also when first read after), and not after a complete one", async () => {
    let aborted: (reason: unknown) => void = () => {}
    const abortSeen = new Promise<unknown>((resolve) => (aborted = resolve))
    let finishedSignal: AbortSignal | undefined
    let lateSignal: AbortSignal | undefined
    let lateRead: () => void = () => {}
    const lateSeen = new Promise<void>((resolve) => (lateRead = resolve))
    const server = await listen(
      createServer(
        nodeListener(async (request) => {
          if (new URL(request.url).pathname === '/quick') {
            finishedSignal = request.signal
            return new Response('ok')
          }
          if (new URL(request.url).pathname === '/late') {
            // The signal first read after the client has gone: already aborted.
            await new Promise((r) => setTimeout(r, 300))
            lateSignal = request.signal
            lateRead()
            return new Response('too late')
          }
          request.signal.addEventListener('abort', () => aborted(request.signal.reason))
          // Never answers on its own: only the abort ends it (bounded by the test's timeout).
          await new Promise((resolve) => request.signal.addEventListener('abort', resolve))
          return new Response('too late')
        }),
      ),
    )
    try {
      expect(await (await fetch(`${server.url}/quick`)).text()).toBe('ok')
      const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'))
      await new Promise((r) => setTimeout(r, 100))
      socket.destroy()
      const reason = await Promise.race([abortSeen, new Promise((_, reject) => setTimeout(() => reject(new Error('no abort within 3 s')), 3000))])
      expect((reason as DOMException).name).toBe('AbortError')
      await new Promise((r) => setTimeout(r, 50))
      expect(finishedSignal?.aborted).toBe(false)
      const late = net.connect(Number(new URL(server.url).port), '127.0.0.1', () => late.write('GET /late HTTP/1.1\r\nHost: x\r\n\r\n'))
      await new Promise((r) => setTimeout(r, 100))
      late.destroy()
      await lateSeen
      expect(lateSignal?.aborted).toBe(true)
      expect((lateSignal?.reason as DOMException).name).toBe('AbortError')
    } finally {
      await server.close()
    }
  })

  it('answers a method undici refuses (TRACE) with a 503 on the undici path, and keeps serving', async () => {
    const server = await listen(createServer(nodeListener(async (request) => new Response(request.method), { request: 'undici' })))
    try {
      const answer = await rawExchange(server.url, Buffer.from('TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable')
      expect(await (await fetch(`${server.url}/`)).text()).toBe('GET')
    } finally {
      await server.close()
    }
  })
})

describe('requestUrl', () => {
  // The reference is the URL parser itself: a URL written without one must be exactly what it would serialize.
  const reference = (scheme: string, host: string | undefined, target: string) => {
    try {
      return new URL(`${scheme}://${host ?? 'localhost'}${target}`).href
    } catch {
      return 'http://invalid.invalid/'
    }
  }
  const label = fc.oneof(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
    fc.stringMatching(/^[a-zA-Z0-9-]{1,8}$/),
    fc.constantFrom('localhost', 'xn--bcher-kva', 'xn--a', 'xn--', 'EXAMPLE', '0x7f', '0', '127', '255', '256', '08', '1e3', 'a_b', 'caf\u00e9', ''),
  )
  const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'))
  const ipv4 = fc.oneof(
    fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((p) => p.join('.')),
    fc.constantFrom('127.1', '127.0.0.01', '0127.0.0.1', '0x7f.0.0.1', '1.2.3', '1.2.3.4.', '[::1]', '[::ffff:127.0.0.1]'),
  )
  const port = fc.oneof(fc.constant(''), fc.constantFrom(':80', ':443', ':0', ':080', ':65535', ':65536', ':99999', ':', ':3000', ':8080', ':x'), fc.nat(70000).map((n) => `:${n}`))
  const host = fc.oneof(fc.constant(undefined), fc.tuple(fc.oneof(name, ipv4), port).map(([h, p]) => h + p))
  const segment = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9\-._~!$&'()*+,;=:@]{0,8}$/),
    fc.constantFrom('.', '..', '%2e', '.%2E', '%2e%2e', '%41', '%zz', 'a b', 'a"b', '<>', '`{}', '^|[]', '\\', 'caf\u00e9', '#f', 'a?b'),
  )
  const target = fc.tuple(fc.array(segment, { maxLength: 6 }), fc.option(fc.stringMatching(/^[ -~]{0,12}$/), { nil: undefined })).map(
    ([segs, q]) => '/' + segs.join('/') + (q === undefined ? '' : `?${q}`),
  )

  it('is what the URL parser serializes, for random hosts, ports and origin-form targets', () => {
    fc.assert(
      fc.property(fc.constantFrom('http', 'https'), host, target, (scheme, h, t) => {
        expect(requestUrl(scheme, h, t)).toBe(reference(scheme, h, t))
      }),
      { numRuns: 20_000 },
    )
  })

  it('writes a plain URL as it comes, and still parses what the parser would change', () => {
    expect(requestUrl('http', 'localhost:3000', '/api/me?x=1')).toBe('http://localhost:3000/api/me?x=1')
    expect(requestUrl('http', 'Example.COM:80', '/a/../b')).toBe('http://example.com/b')
    expect(requestUrl('https', '127.1:443', "/a?b='c'")).toBe('https://127.0.0.1/a?b=%27c%27')
    expect(requestUrl('http', 'a b', '/')).toBe('http://invalid.invalid/')
  })
})

describe('allowLazyRequestCopies (explicit; what makes the lazy request the default on Node 24+)', () => {
  it('copies the lazy request with new Request(request), forwards it with fetch(request), keeps instanceof; and puts the globals back', async () => {
    const NativeRequest = globalThis.Request
    const nativeFetch = globalThis.fetch
    // An upstream that shows what reached it.
    const upstream = await listen(
      createServer(async (req, res) => {
        const chunks: Buffer[] = []
        for await (const c of req) chunks.push(c as Buffer)
        res.writeHead(200, { 'content-type': 'application/json', connection: 'close' })
        res.end(JSON.stringify({ method: req.method, path: req.url, x: req.headers['x-one'] ?? null, body: Buffer.concat(chunks).toString() }))
      }),
    )
    const restore = allowLazyRequestCopies()
    // Before the call nothing was replaced; on Node 20 and 22 the call replaces nothing either (copies work there).
    expect(globalThis.Request === NativeRequest).toBe(lazyRequestCopies)
    let server: StartedApp | undefined
    try {
      server = await listen(
        createServer(
          // No `request` option: after the call the default is the lazy request on every line.
          nodeListener(async (request) => {
            if (new URL(request.url).pathname === '/fetch') return fetch(request) // the request as it came, to its URL's host
            const copy = new Request(request)
            const seen = {
              lazy: isNodeRequest(request),
              instance: request instanceof Request && copy instanceof Request && new NativeRequest('http://x/') instanceof Request,
              copy: { method: copy.method, url: copy.url, x: copy.headers.get('x-one'), body: await copy.text() },
            }
            return new Response(JSON.stringify(seen), { headers: { 'content-type': 'application/json' } })
          }),
        ),
      )
      const res = await nativeFetch(`${server.url}/a?b=1`, { method: 'PUT', headers: { 'X-One': '1' }, body: 'the body' })
      expect(await res.json()).toEqual({
        lazy: true,
        instance: true,
        copy: { method: 'PUT', url: `${server.url}/a?b=1`, x: '1', body: 'the body' },
      })
      // Sent with the upstream's Host, the lazy request's URL is the upstream's: fetch(request) takes it there whole.
      const upstreamHost = new URL(upstream.url).host
      const body = 'forwarded body'
      const answer = await rawExchange(
        server.url,
        Buffer.from(`POST /fetch?q=1 HTTP/1.1\r\nHost: ${upstreamHost}\r\nX-One: 2\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`),
      )
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
      // (The upstream's answer is streamed back, so it may come chunked: the JSON is between its braces.)
      expect(JSON.parse(answer.slice(answer.indexOf('{'), answer.lastIndexOf('}') + 1))).toEqual({ method: 'POST', path: '/fetch?q=1', x: '2', body })
    } finally {
      await server?.close()
      await upstream.close()
      restore()
    }
    expect(globalThis.Request).toBe(NativeRequest)
    expect(globalThis.fetch).toBe(nativeFetch)
  })
})
