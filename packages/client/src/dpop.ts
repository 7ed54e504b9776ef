/**
 * The device key behind a bound session: a non-extractable ECDSA P-256 key
 * made with Web Crypto on first use and kept in IndexedDB, where a CryptoKey
 * survives as itself (structured clone) and can sign but never be exported.
 * One per browser profile, shared by every tab; dropped at sign-out so the
 * next session gets a new one. Where IndexedDB or Web Crypto is missing or
 * blocked, `proof` answers undefined and the session is simply unbound.
 */



export interface DeviceKey {
  /** A DPoP proof (RFC 9449) for one request to `url` (relative to the page), or undefined without a usable key. */
  proof(htm: string, url: string, nonce?: string | null): Promise<string | undefined>
  /** Deletes the key: the next session starts on a new one. */
  reset(): Promise<void>
}


const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
const ID = 'device'

const bytes = (s: string) => new TextEncoder().encode(s)
const b64 = (b: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(b))).replace(/[+/=]/g, (c) => (c == '+' ? '-' : c == '/' ? '_' : ''))
const b64json = (o: unknown) => b64(bytes(JSON.stringify(o)))

/** An IndexedDB request as a promise. */
const done = <T>(r: IDBRequest<T>) => new Promise<T>((ok, fail) => ((r.onsuccess = () => ok(r.result)), (r.onerror = () => fail(r.error))))

export function createDeviceKey(dbName: string): DeviceKey {

  let db: Promise<IDBDatabase> | undefined

  /** The object store, for one transaction; rejects where IndexedDB is missing or blocked (after 2 s at most: never hangs). */
  async function keys(mode: IDBTransactionMode) {
    db ??= new Promise((ok, fail) => {
      const open = indexedDB.open(dbName, 1)
      open.onupgradeneeded = () => open.result.createObjectStore('keys')
      done(open).then(ok, fail)
      setTimeout(fail, 2e3)
    })
    try {
      return (await db).transaction('keys', mode).objectStore('keys')
    } catch (e) {
      db = undefined
      throw e
    }
  }

  async function pair(): Promise<CryptoKeyPair> {
    const found = await done((await keys('readonly')).get(ID))
    if (found) return found
    // Private half non-extractable: script can sign with it while it runs, never carry it away.
    const made = (await crypto.subtle.generateKey(ALG, false, ['sign'])) as CryptoKeyPair
    // Two tabs may make one each at once: in one readwrite transaction the first stored stays, and both use it.
    const store = await keys('readwrite')
    const first = await done(store.get(ID))
    if (first) return first
    await done(store.put(made, ID))
    return made
  }

  return {
    async proof(htm, url, nonce) {
      try {
        const htu = new URL(url, globalThis.location?.href).href
        const { privateKey, publicKey } = await pair()
        const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey)
        const head = b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })
        const body = b64json({ htm, htu, iat: Math.floor(Date.now() / 1e3), jti: crypto.randomUUID(), nonce: nonce || undefined })
        const input = head + '.' + body
        return input + '.' + b64(await crypto.subtle.sign(ALG, privateKey, bytes(input)))
      } catch {
        return undefined
      }
    },
    async reset() {
      try {
        await done((await keys('readwrite')).delete(ID))
      } catch {}
    },
  }
}
