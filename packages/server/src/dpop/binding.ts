/**
 * The device-binding policy: which key a new session is bound to, and
 * whether a refresh proves possession of it. Knows requests and sessions'
 * thumbprints, nothing of routes or stores, so login, register, /auth/token,
 * the OAuth start and refresh all ask it the same way.
 */
import { BastionError } from '../errors.ts'
import type { RequestHead } from '../guards/request-info.ts'
import { dpopNonces, type Nonces } from './nonce.ts'
import { DPOP_ALGORITHMS, DpopError, verifyProof, type DpopAlgorithm, type DpopFailure } from './proof.ts'
import { memoryReplayCache, type ReplayCache } from './replay-cache.ts'

/**
 * - `when-offered` (default): a session is bound when the client sends a proof at its start; an unbound one refreshes as before.
 * - `required`: a session cannot start, nor an unbound one refresh, without a proof.
 * - `off`: proofs are ignored, bound sessions refresh without one (an escape hatch, not a mode to run in).
 */
export type DeviceBindingPolicy = 'when-offered' | 'required' | 'off'
export const DEVICE_BINDING_POLICIES: readonly DeviceBindingPolicy[] = ['when-offered', 'required', 'off']

export interface DeviceBindingOptions {
  /** Default `'when-offered'`. */
  policy?: DeviceBindingPolicy
  /** Where used `jti`s are remembered. Default: this process only (`memoryReplayCache()`); share one (Redis) across instances. */
  replayCache?: ReplayCache
  /** Key for stateless DPoP-Nonce values, derived from the server secret. */
  nonceKey: Uint8Array
  now: () => number
  /** How far a proof's `iat` may be from the server's clock, seconds. Default 60. */
  maxAgeSeconds?: number
  /** Default ES256 and EdDSA. */
  algorithms?: readonly DpopAlgorithm[]
  /** Request header carrying the proof. Default `DPoP`. */
  header?: string
}

/** A refresh's verdict on the proof. `revoke`: the refresh token left its device (no proof, another key, a replay). */
export type RefreshProofVerdict = { ok: true } | { ok: false; failure: RefreshRefusal; revoke: boolean; error: BastionError }
/** A proof's failure, or none sent (`missing`), or an unbound session where binding is required (`unbound`). */
export type RefreshRefusal = DpopFailure | 'missing' | 'unbound'

/** Answer headers that ask a client with a skewed clock to prove again with the server's nonce (RFC 9449 §8). */
function nonceHeaders(nonces: Nonces): Record<string, string> {
  return { 'DPoP-Nonce': nonces.issue(), 'WWW-Authenticate': 'DPoP error="use_dpop_nonce", error_description="Resend with the DPoP-Nonce"' }
}

export class DeviceBinding {
  readonly policy: DeviceBindingPolicy
  readonly header: string
  private readonly nonces: Nonces
  private readonly replays: ReplayCache
  private readonly maxAge: number
  private readonly algorithms: readonly DpopAlgorithm[]
  private readonly now: () => number
  /** How long a jti is remembered: as long as its proof could pass on iat (either side of now) or on a nonce. */
  private readonly retainMs: number

  constructor(options: DeviceBindingOptions) {
    this.policy = options.policy ?? 'when-offered'
    this.header = options.header ?? 'DPoP'
    this.now = options.now
    this.maxAge = options.maxAgeSeconds ?? 60
    this.algorithms = options.algorithms ?? DPOP_ALGORITHMS
    this.replays = options.replayCache ?? memoryReplayCache()
    this.nonces = dpopNonces({ key: options.nonceKey, now: options.now })
    this.retainMs = Math.max(2 * this.maxAge * 1000, this.nonces.lifetimeMs) + 5_000
  }

  /** Verifies a proof and claims its jti; throws DpopError. */
  private async verify(proof: string, method: string, url: string) {
    const now = this.now()
    const verified = await verifyProof(proof, {
      method,
      url,
      now,
      maxAgeSeconds: this.maxAge,
      algorithms: this.algorithms,
      nonceValid: (n) => this.nonces.valid(n),
    })
    // Keyed by key and jti: another key's jti can never block this one's.
    if (!(await this.replays.claim(`${verified.jkt}:${verified.jti}`, now + this.retainMs, now))) {
      throw new DpopError('replayed', 'This DPoP proof was used before.', verified.jkt)
    }
    return verified
  }

  /**
   * The thumbprint a session starting with this request is bound to, or null
   * (unbound). A proof that is offered must be valid: a bad one is refused,
   * never quietly downgraded to an unbound session.
   *
   * Login, `/auth/token` and the OAuth start (`POST /auth/oauth/:provider`) call it; the OAuth start keeps the
   * thumbprint in its sealed state cookie and hands it to `sessions.start(…, { dpopJkt })` at the callback,
   * a top-level redirect, which cannot carry a DPoP header.
   *
   * @param url the URL the browser addressed: public origin + path.
   */
  async bindingFor(request: RequestHead, url: string): Promise<string | null> {
    if (this.policy === 'off') return null
    const proof = request.headers.get(this.header)
    if (proof === null) {
      if (this.policy === 'required') throw new BastionError('bad_request', `A ${this.header} proof of the device key is required to sign in.`)
      return null
    }
    try {
      return (await this.verify(proof, request.method, url)).jkt
    } catch (e) {
      if (!(e instanceof DpopError)) throw e
      if (e.failure === 'stale') throw new BastionError('unauthenticated', e.message, { headers: nonceHeaders(this.nonces) })
      throw new BastionError('bad_request', `${this.header} proof refused: ${e.message}`)
    }
  }

  /**
   * Whether a refresh of a session bound to `sessionJkt` (null: unbound) may
   * go on. A stale proof by the session's own key is a skewed clock, not a
   * theft: it is refused with a nonce and nothing revoked.
   */
  async checkRefresh(request: RequestHead, url: string, sessionJkt: string | null): Promise<RefreshProofVerdict> {
    if (this.policy === 'off') return { ok: true }
    if (sessionJkt === null) {
      if (this.policy !== 'required') return { ok: true }
      return { ok: false, failure: 'unbound', revoke: false, error: new BastionError('unauthenticated', 'This session is not bound to a device key; sign in again.') }
    }
    const refused = (failure: RefreshRefusal): RefreshProofVerdict => ({
      ok: false,
      failure,
      revoke: true,
      error: new BastionError('unauthenticated', 'This session is bound to another device; sign in again.'),
    })
    const proof = request.headers.get(this.header)
    if (proof === null) return refused('missing')
    try {
      const { jkt } = await this.verify(proof, request.method, url)
      return jkt === sessionJkt ? { ok: true } : refused('wrong_key')
    } catch (e) {
      if (!(e instanceof DpopError)) throw e
      if (e.failure === 'stale' && e.jkt === sessionJkt) {
        return { ok: false, failure: 'stale', revoke: false, error: new BastionError('unauthenticated', e.message, { headers: nonceHeaders(this.nonces) }) }
      }
      return refused(e.jkt !== undefined && e.jkt !== sessionJkt ? 'wrong_key' : e.failure)
    }
  }
}
