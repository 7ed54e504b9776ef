/**
 * At most the first `maxBytes` of a response body, as text. Counted as it
 * arrives and cancelled at the cap, so a huge or endless answer from the
 * server under examination (`doctor --url`, `audit`) costs no more than that.
 */
export async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
    if (size >= maxBytes) {
      await reader.cancel().catch(() => {})
      break
    }
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8')
}
