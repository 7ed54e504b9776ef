import type { ServerResponse } from 'node:http'
import { LiteHeaders } from '../http/lite-headers.ts'
import { LiteResponse } from '../http/lite-response.ts'

/**
 * Writes a web Response to a Node ServerResponse. A body that is a string or
 * bytes (Bastion's own answers, `new Response(JSON.stringify(x))`, a Buffer)
 * is written in one `end()` with its Content-Length, without a web stream; a
 * streamed body is copied chunk by chunk, waiting for `drain` when the socket's
 * buffer is full, and cancelled when the client goes away.
 */

/** undici keeps a body's source (the string or bytes it was made from) under this symbol on Node 20 and 22. */
const STATE: symbol | undefined = Object.getOwnPropertySymbols(new Response('')).find((s) => s.description === 'state')

/** The bytes of a body made from a string, bytes or a Blob, without reading its stream; undefined otherwise. */
function bodySource(response: Response): string | Uint8Array | Blob | undefined {
  if (response instanceof LiteResponse) return response.unreadText ?? undefined
  if (STATE === undefined || response.bodyUsed) return undefined
  const source = (response as unknown as Record<symbol, { body?: { source?: unknown } | null } | undefined>)[STATE]?.body?.source
  return typeof source === 'string' || source instanceof Uint8Array || source instanceof Blob ? source : undefined
}

function outgoingHeaders(headers: Headers): Record<string, string | string[]> {
  if (headers instanceof LiteHeaders) return headers.toOutgoing()
  const out: Record<string, string | string[]> = {}
  headers.forEach((value, key) => {
    if (key !== 'set-cookie') out[key] = value
  })
  const cookies = headers.getSetCookie()
  if (cookies.length > 0) out['set-cookie'] = cookies
  return out
}

/** Writes `response` to `res`; resolves once all of it is written (a streamed body, chunk by chunk). */
export function writeWebResponse(res: ServerResponse, response: Response, method = 'GET'): Promise<void> {
  try {
    return writeResponse(res, response, method) ?? WRITTEN
  } catch (e) {
    return Promise.reject(e)
  }
}

const WRITTEN: Promise<void> = Promise.resolve()

/**
 * `writeWebResponse` for the Node listener: `undefined` when the answer was
 * written at once (no body, or one whose bytes were known), so that the common
 * answer costs no promise; a promise while a body is still being copied.
 */
export function writeResponse(res: ServerResponse, response: Response, method: string): Promise<void> | undefined {
  const headers = outgoingHeaders(response.headers)
  // The source first: asking a LiteResponse for its `body` would build the undici Response it exists to avoid.
  const source = bodySource(response)
  if (method === 'HEAD' || (source === undefined && response.body === null)) {
    res.writeHead(response.status, headers)
    res.end()
    return undefined
  }
  if (source instanceof Blob) return source.arrayBuffer().then((bytes) => writeKnown(res, response.status, headers, new Uint8Array(bytes)))
  if (source !== undefined) {
    writeKnown(res, response.status, headers, source)
    return undefined
  }
  return writeStream(res, response, headers)
}

function writeKnown(res: ServerResponse, status: number, headers: Record<string, string | string[]>, source: string | Uint8Array): void {
  // The length of what is written, never one the application declared: a wrong length breaks the connection.
  headers['content-length'] = String(typeof source === 'string' ? Buffer.byteLength(source) : source.byteLength)
  res.writeHead(status, headers)
  res.end(source)
}

/** A body known only as a web stream: copied with backpressure. */
async function writeStream(res: ServerResponse, response: Response, headers: Record<string, string | string[]>): Promise<void> {
  const reader = response.body!.getReader()
  if (STATE === undefined) {
    // Node 24+: undici keeps a body's source in a private field. A body made from a string, bytes or a Blob is one
    // chunk and then the end, both at once; a stream's next chunk waits for its source. So: a body that has ended by
    // the next turn of the event loop gets its exact length, whatever the app declared; anything else is a stream,
    // framed chunked (an app-declared length is not one this writer can check), its head sent without waiting.
    const first = await reader.read()
    if (first.done) {
      headers['content-length'] = '0'
      res.writeHead(response.status, headers)
      res.end()
      return
    }
    const next = reader.read()
    const settled = await Promise.race([next, new Promise<null>((resolve) => setImmediate(resolve, null))])
    if (settled !== null && settled.done) {
      headers['content-length'] = String(first.value.byteLength)
      res.writeHead(response.status, headers)
      res.end(first.value)
      return
    }
    delete headers['content-length']
    res.writeHead(response.status, headers)
    res.write(first.value)
    await pipeBody(reader, res, next)
    return
  }
  // A declared length stays (the stream must honour it); without one Node frames the body as chunked.
  res.writeHead(response.status, headers)
  await pipeBody(reader, res)
}

/** Copies a web stream to `res`, one chunk at a time, with backpressure; cancels it when the client goes away. */
async function pipeBody(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  res: ServerResponse,
  /** A read already asked for (the writer's look ahead), consumed first. */
  pending?: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>,
): Promise<void> {
  let gone = false
  const onClose = () => {
    if (res.writableFinished) return
    gone = true
    reader.cancel(new Error('The client closed the connection.')).catch(() => {})
  }
  res.on('close', onClose)
  try {
    for (;;) {
      const read = pending ?? reader.read()
      pending = undefined
      const { done, value } = await read
      if (done || gone) break
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off('drain', go)
            res.off('close', go)
            resolve()
          }
          res.on('drain', go)
          res.on('close', go)
        })
      }
    }
    if (!gone) res.end()
  } catch {
    // A stream that fails half way cannot be answered with an error any more: the connection is cut, so the client
    // sees a truncated answer, not a complete-looking one.
    res.destroy()
  } finally {
    res.off('close', onClose)
  }
}
