/** An absolute `http:` or `https:` URL, or null for anything else (unparseable, another scheme). */
export function parseHttpUrl(value: string): URL | null {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return null
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : null
}
