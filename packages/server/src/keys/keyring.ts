import { createPrivateKey, type JsonWebKey as NodeJwk, type KeyObject } from 'node:crypto'
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { randomToken } from '../crypto/encoding.ts'
import { open, seal } from '../crypto/secret.ts'
import { ConfigError } from '../errors.ts'
import type { JwtSigner } from '../tokens/jws.ts'
import type { KeyRecord, Store } from '../store.ts'

export type SigningAlgorithm = 'EdDSA' | 'ES256'
export const ALLOWED_ALGORITHMS: readonly SigningAlgorithm[] = ['EdDSA', 'ES256']

interface LoadedKey {
  record: KeyRecord
  publicKey: CryptoKey
  publicJwk: JWK
  /** The private half as node:crypto's `KeyObject` (it signs synchronously: tokens/jws.ts); null once it no longer signs. */
  privateKey: KeyObject | null
}

/**
 * Signing keys, persisted in the store with their private half sealed
 * (AES-256-GCM) under a key derived from the server secret.
 *
 * Rotation never logs anyone out: the retired key keeps verifying (and stays
 * in the JWKS) until its last token expires. A rotation may be staged: the new
 * key is published at once but signs only from a time in the future (its
 * `createdAt`), and the old one signs until then (its `retiredAt`), so every
 * instance and every JWKS consumer knows the new key before any token uses it.
 */
export class Keyring {
  private keys = new Map<string, LoadedKey>()
  /** Keys holding a private half, newest first: the first one whose turn it is signs. */
  private signers: LoadedKey[] = []
  /** Monotonic time of the last reload: throttling is about real load, not the injectable clock. */
  private lastReload = -Infinity
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly store: Store,
    private readonly wrapKey: Buffer,
    private readonly algorithm: SigningAlgorithm,
    /** Seconds a retired key must keep verifying: the access-token lifetime plus clock leeway. */
    private readonly verifyWindow: number,
    private readonly now: () => number,
  ) {}

  /**
   * Loads the keys, creating the first one when the store has none. Instances
   * starting together may each make a first key: none retires another's (each
   * may already be signing with its own), all stay valid, and every instance
   * signs with the newest once it has reloaded.
   */
  async init(): Promise<void> {
    await this.reload()
    if (!this.currentSigner()) {
      await this.store.insertKey(await this.newKey(this.now()))
      await this.reload()
    }
    // Let the first unknown kid (a peer's first key) reload at once.
    this.lastReload = -Infinity
  }

  async reload(): Promise<void> {
    this.lastReload = performance.now()
    const records = await this.store.listKeys()
    const next = new Map<string, LoadedKey>()
    for (const record of records) {
      if (!ALLOWED_ALGORITHMS.includes(record.alg as SigningAlgorithm)) continue
      const known = this.keys.get(record.kid)
      if (known && known.record.retiredAt === record.retiredAt) {
        next.set(record.kid, known)
        continue
      }
      const publicJwk = JSON.parse(record.publicJwk) as JWK
      const publicKey = (await importJWK(publicJwk, record.alg)) as CryptoKey
      let privateKey: KeyObject | null = null
      if (record.retiredAt === null || record.retiredAt > this.now()) {
        let sealed: string
        try {
          sealed = open(this.wrapKey, record.sealedPrivateJwk, `key:${record.kid}`)
        } catch {
          throw new ConfigError(
            `The signing key ${record.kid} in the store was sealed with a different secret. Start with the secret this store was created with (BASTION_SECRET), or rotate deliberately: every session would end.`,
          )
        }
        privateKey = createPrivateKey({ key: JSON.parse(sealed) as NodeJwk, format: 'jwk' })
      }
      next.set(record.kid, { record, publicKey, publicJwk, privateKey })
    }
    this.keys = next
    // Newest first; instances that raced to create a first key agree on the same one.
    this.signers = [...next.values()]
      .filter((k) => k.privateKey)
      .sort((a, b) => b.record.createdAt - a.record.createdAt || (a.record.kid < b.record.kid ? 1 : -1))
  }

  /** The newest key whose signing time has come and not yet passed. */
  private currentSigner(): LoadedKey | null {
    const now = this.now()
    for (const k of this.signers) {
      if (k.record.createdAt <= now && (k.record.retiredAt === null || k.record.retiredAt > now)) return k
    }
    return null
  }

  /**
   * Reloads every `intervalMs`, so a key rotated by another instance (or the
   * CLI) starts signing here too. The interval must stay well inside the
   * slack a retired key keeps verifying beyond the access-token lifetime.
   */
  startReloading(intervalMs: number, onError: (e: unknown) => void): void {
    this.timer = setInterval(() => this.reload().catch(onError), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  private inflight: Promise<void> | null = null

  /**
   * Reloads at most once per `minIntervalMs`, for tokens signed by a key
   * another instance just made. Requests arriving while that reload runs wait
   * for it (instead of being refused for a key it is about to learn).
   */
  async reloadIfStale(minIntervalMs = 1_000): Promise<boolean> {
    if (this.inflight) {
      await this.inflight
      return true
    }
    if (performance.now() - this.lastReload < minIntervalMs) return false
    this.inflight = this.reload().finally(() => (this.inflight = null))
    await this.inflight
    return true
  }

  private async newKey(signsFrom: number): Promise<KeyRecord> {
    const { publicKey, privateKey } = await generateKeyPair(this.algorithm, { extractable: true })
    const kid = randomToken(12)
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: this.algorithm, use: 'sig' }
    const privateJwk = await exportJWK(privateKey)
    return {
      kid,
      alg: this.algorithm,
      publicJwk: JSON.stringify(publicJwk),
      sealedPrivateJwk: seal(this.wrapKey, JSON.stringify(privateJwk), `key:${kid}`),
      createdAt: signsFrom,
      retiredAt: null,
    }
  }

  /**
   * Makes a new signing key and retires every other active one when it
   * starts signing: at once, or `activateInSeconds` from now (published in the
   * JWKS meanwhile; give it at least the reload interval of every instance).
   */
  async rotate(activateInSeconds = 0): Promise<string> {
    const key = await this.newKey(this.now() + Math.max(0, activateInSeconds) * 1000)
    await this.store.insertKey(key)
    // Every other active key retires, not only ours: instances that raced at start may have left one each.
    for (const k of await this.store.listKeys()) if (k.retiredAt === null && k.kid !== key.kid) await this.store.retireKey(k.kid, key.createdAt)
    await this.reload()
    return key.kid
  }

  signingKey(): JwtSigner {
    const k = this.currentSigner()
    if (!k || !k.privateKey) throw new Error('keyring is not initialised')
    return { kid: k.record.kid, alg: k.record.alg as SigningAlgorithm, keyObject: k.privateKey }
  }

  private usable(k: LoadedKey): boolean {
    return k.record.retiredAt === null || this.now() < k.record.retiredAt + this.verifyWindow * 1000
  }

  /** Whether `kid` names a key that may still verify a live token (the encrypted access cookie follows the signing keys). */
  knows(kid: string): boolean {
    const k = this.keys.get(kid)
    return k !== undefined && this.usable(k)
  }

  verificationKey(kid: string | undefined, alg: string | undefined): CryptoKey | null {
    if (!kid) return null
    const k = this.keys.get(kid)
    if (!k || k.record.alg !== alg || !this.usable(k)) return null
    return k.publicKey
  }

  /** The public keys that may still verify a live token. */
  jwks(): { keys: JWK[] } {
    return { keys: [...this.keys.values()].filter((k) => this.usable(k)).map((k) => k.publicJwk) }
  }
}
