import net from 'node:net'
import { createServer, request as httpRequest } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { json } from '../http/respond.ts'
import { listen, type StartedApp } from './conformance.ts'
import { nodeListener } from './node.ts'

let app: StartedApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

async function serve(handler: (request: Request) => Promise<Response> | Response): Promise<string> {
  app = await listen(createServer(nodeListener(async (request) => handler(request))))
  return app.url
}

/** The status line, headers and body bytes of one answer, read with node:http (no fetch in between). */
function get(url: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')))
    req.on('error', reject)
    req.end()
  })
}

describe('writing a web Response to node:http', () => {
  it('writes string, bytes, Blob and json() bodies with the exact Content-Length, whatever length the app declared', async () => {
    const bodies: Record<string, () => Response> = {
      '/string': () => new Response('héllo', { headers: { 'content-length': '999' } }),
      '/bytes': () => new Response(new Uint8Array([1, 2, 3, 250])),
      '/buffer': () => new Response(Buffer.from('buffered')),
      '/blob': () => new Response(new Blob(['a blob'])),
      '/json': () => json({ ok: 'ünï' }, 201, { 'Set-Cookie': 'a=1', 'set-cookie': 'b=2' }),
    }
    const url = await serve((request) => bodies[new URL(request.url).pathname]!())
    const expected: Record<string, Buffer> = {
      '/string': Buffer.from('héllo'),
      '/bytes': Buffer.from([1, 2, 3, 250]),
      '/buffer': Buffer.from('buffered'),
      '/blob': Buffer.from('a blob'),
      '/json': Buffer.from(JSON.stringify({ ok: 'ünï' })),
    }
    for (const [path, body] of Object.entries(expected)) {
      const res = await get(url + path)
      expect(res.body, path).toEqual(body)
      expect(res.headers['content-length'], path).toBe(String(body.length))
      expect(res.headers['transfer-encoding'], path).toBeUndefined()
    }
    const j = await get(`${url}/json`)
    expect(j.status).toBe(201)
    expect(j.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(j.headers['content-type']).toBe('application/json; charset=utf-8')
  })

  it('answers HEAD and 204 without a body', async () => {
    const url = await serve((request) => (new URL(request.url).pathname === '/empty' ? new Response(null, { status: 204 }) : json({ a: 1 })))
    const head = await get(`${url}/x`, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
    const empty = await get(`${url}/empty`)
    expect(empty.status).toBe(204)
    expect(empty.body.length).toBe(0)
  })

  it("reflects headers set on a json() Response after it was made (CORS decoration), and its body stays readable by the app", async () => {
    const url = await serve(async () => {
      const r = json({ n: 1 })
      r.headers.append('Vary', 'Origin')
      r.headers.set('Access-Control-Allow-Origin', 'https://spa.example')
      expect(r).toBeInstanceOf(Response)
      expect(await r.clone().json()).toEqual({ n: 1 })
      return r
    })
    const res = await get(url)
    expect(res.headers.vary).toBe('Origin')
    expect(res.headers['access-control-allow-origin']).toBe('https://spa.example')
    expect(JSON.parse(res.body.toString())).toEqual({ n: 1 })
  })

  it('streams a body chunk by chunk (chunked framing), in order', async () => {
    const url = await serve(() => {
      let i = 0
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (i === 5) return c.close()
          c.enqueue(new TextEncoder().encode(`chunk${i++};`))
        },
      })
      return new Response(stream, { headers: { 'content-type': 'text/plain' } })
    })
    const res = await get(url)
    expect(res.headers['transfer-encoding']).toBe('chunked')
    expect(res.body.toString()).toBe('chunk0;chunk1;chunk2;chunk3;chunk4;')
  })

  it('keeps backpressure: a client that does not read holds the stream to what the socket buffers; its disconnect cancels the stream', async () => {
    const CHUNK = 64 * 1024
    const LIMIT = 2048 // chunks: 128 MiB, far more than any socket buffer
    let pulled = 0
    let cancelled: (why: unknown) => void = () => {}
    const cancel = new Promise((r) => (cancelled = r))
    const url = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>(
            {
              pull(c) {
                if (pulled++ >= LIMIT) return c.close()
                c.enqueue(new Uint8Array(CHUNK))
              },
              cancel: (why) => cancelled(why),
            },
            { highWaterMark: 1 },
          ),
        ),
    )
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    socket.pause() // never reads: the kernel's buffers fill, then Node's
    await new Promise((r) => setTimeout(r, 600))
    const held = pulled
    await new Promise((r) => setTimeout(r, 300))
    // Bounded by the buffers (a few MiB at most), and not growing while the client reads nothing.
    expect(held).toBeLessThan(200)
    expect(pulled - held).toBeLessThanOrEqual(1)
    socket.destroy()
    await Promise.race([cancel, new Promise((_, reject) => setTimeout(() => reject(new Error('stream not cancelled within 3 s')), 3000))])
    expect(pulled).toBeLessThan(LIMIT)
  })

  it('cuts the connection (never a complete-looking answer) when a streamed body fails half way', async () => {
    const url = await serve(() => {
      let i = 0
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (i++ === 2) throw new Error('the upstream broke')
            c.enqueue(new TextEncoder().encode('part;'))
          },
        }),
      )
    })
    await expect(get(url)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/)
  })
})
