import { BastionError } from '../errors.ts'
import { headerOf } from './header-of.ts'

/**
 * Reads a JSON object body with a hard size limit, counting bytes as they
 * arrive so an oversized or endless body is cut off, not buffered.
 */
export async function readJsonObject(request: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const type = headerOf(request, 'content-type') ?? ''
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new BastionError('bad_request', 'Content-Type must be application/json.')
  }
  const declared = headerOf(request, 'content-length')
  if (declared !== null && Number(declared) > maxBytes) {
    throw new BastionError('payload_too_large', `Body larger than ${maxBytes} bytes.`)
  }
  if (!request.body) throw new BastionError('bad_request', 'A JSON body is required.')
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBytes) {
        await reader.cancel().catch(() => {})
        throw new BastionError('payload_too_large', `Body larger than ${maxBytes} bytes.`)
      }
      chunks.push(value)
    }
  } catch (e) {
    if (e instanceof BastionError) throw e
    throw new BastionError('bad_request', 'The request body could not be read.')
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch {
    throw new BastionError('bad_request', 'The body is not valid UTF-8.')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new BastionError('bad_request', 'The body is not valid JSON.')
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BastionError('bad_request', 'The body must be a JSON object.')
  }
  return parsed as Record<string, unknown>
}

export function stringField(body: Record<string, unknown>, name: string, opts: { max: number; min?: number }): string {
  const v = body[name]
  if (typeof v !== 'string') throw new BastionError('bad_request', `"${name}" must be a string.`)
  if (v.length > opts.max) throw new BastionError('bad_request', `"${name}" is longer than ${opts.max} characters.`)
  if (v.length < (opts.min ?? 1)) throw new BastionError('bad_request', `"${name}" is required.`)
  return v
}
