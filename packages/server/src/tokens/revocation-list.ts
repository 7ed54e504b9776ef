import type { RevocationBus, Store } from '../store.ts'

/**
 * Session ids revoked recently enough that one of their access tokens may
 * still be unexpired. Checked on every request from memory; fed by this
 * instance's own revocations, the bus (other instances), and at start the
 * store (revocations made before this instance started).
 */
/**
 * How often the store is asked for revocations made elsewhere: the bound on
 * how late one arrives when the bus cannot carry it (no bus, the bus down, or
 * only the revoking instance cut off from it, which no other instance can
 * notice). One indexed query per interval, whatever the traffic.
 */
const POLL_MS = 5_000

export type RevocationListEvent =
  | { kind: 'poll_failed'; error: unknown }
  | { kind: 'bus_degraded'; error?: unknown }
  | { kind: 'bus_recovered' }

/**
 * A revoke-all travels on the bus as one entry among session ids: `*<notBefore>`.
 * Session ids are base64url, so the `*` cannot be the start of one.
 */
const REVOKE_ALL_PREFIX = '*'

/** The bus entry of a revoke-all, for a publisher that is not an instance (the CLI). */
export const revokeAllEntry = (notBefore: number): string => `${REVOKE_ALL_PREFIX}${notBefore}`

/**
 * The bound of a revoke-all made at `now`: the next whole second, because an
 * access token's `iat` is in seconds. Everything issued before it is out.
 */
export const revokeAllBound = (now: number): number => Math.ceil(now / 1000) * 1000

export class RevocationList {
  private readonly until = new Map<string, number>()
  /** Every access token issued (and every session made) before this time, in ms, is revoked: the last revoke-all. */
  private notBefore = 0
  private unsubscribe: (() => Promise<void>) | null = null
  private timer: NodeJS.Timeout | null = null
  private busHealthy = false
  /** Set once the first poll is done: bus state changes are reported from then on (a failure at start is reported once). */
  private polled = false

  constructor(
    /** Milliseconds an entry must live: the access-token lifetime plus leeway. */
    private readonly horizonMs: number,
    private readonly now: () => number,
    private readonly bus: RevocationBus | undefined,
  ) {}

  /**
   * Seeds from the store, then polls it every 5 s (one query per interval, not
   * per request), besides the bus, which brings revocations within
   * milliseconds while it works. A bus that cannot be reached at start does
   * not stop the start: it is retried on every tick, and its state changes are
   * reported.
   */
  async start(store: Store, report: (event: RevocationListEvent) => void = () => {}): Promise<void> {
    let since = this.now() - this.horizonMs
    const poll = async () => {
      const at = this.now()
      this.addLocal(await store.revokedSince(since))
      this.raiseNotBefore(await store.sessionsNotBefore())
      this.polled = true
      // Overlap by a second: a revocation committed while we read is picked up next time.
      since = at - 1000
    }
    const checkBus = async (): Promise<void> => {
      if (!this.bus) return
      const wasHealthy = this.busHealthy
      try {
        this.unsubscribe ??= await this.bus.subscribe((ids) => this.addLocal(ids))
        this.busHealthy = this.bus.connected?.() ?? true
      } catch (error) {
        this.busHealthy = false
        if (wasHealthy || !this.polled) report({ kind: 'bus_degraded', error })
        return
      }
      if (wasHealthy && !this.busHealthy) report({ kind: 'bus_degraded' })
      // Messages sent while it was down are lost; the poll that follows catches up.
      if (!wasHealthy && this.busHealthy && this.polled) report({ kind: 'bus_recovered' })
    }
    await checkBus()
    await poll()
    const tick = async () => {
      await checkBus()
      await poll()
    }
    this.timer = setInterval(() => tick().catch((error: unknown) => report({ kind: 'poll_failed', error })), POLL_MS)
    this.timer.unref()
  }

  /** Whether an access token issued at `iat` (seconds, as in the JWT) predates the last revoke-all. */
  issuedBeforeRevokeAll(iat: number): boolean {
    return iat * 1000 < this.notBefore
  }

  /**
   * Records a revoke-all (the store already holds it) and broadcasts it: one
   * number, whatever the number of sessions, so memory does not grow with them.
   */
  async revokeAll(notBefore: number): Promise<void> {
    this.raiseNotBefore(notBefore)
    if (this.bus) await this.bus.publish([revokeAllEntry(notBefore)])
  }

  private raiseNotBefore(notBefore: number): void {
    if (notBefore > this.notBefore) this.notBefore = notBefore
  }

  has(sessionId: string): boolean {
    const t = this.until.get(sessionId)
    if (t === undefined) return false
    if (t < this.now()) {
      this.until.delete(sessionId)
      return false
    }
    return true
  }

  /** Records and broadcasts. A bus failure is logged by the caller; the store is already the truth. */
  async add(sessionIds: string[]): Promise<void> {
    if (sessionIds.length === 0) return
    this.addLocal(sessionIds)
    if (this.bus) await this.bus.publish(sessionIds)
  }

  private addLocal(sessionIds: string[]): void {
    const t = this.now() + this.horizonMs
    for (const id of sessionIds) {
      if (id.startsWith(REVOKE_ALL_PREFIX)) this.raiseNotBefore(Number(id.slice(REVOKE_ALL_PREFIX.length)) || 0)
      else this.until.set(id, t)
    }
    if (this.until.size > 100_000) this.prune()
  }

  prune(): void {
    const now = this.now()
    for (const [id, t] of this.until) if (t < now) this.until.delete(id)
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await this.unsubscribe?.()
  }
}
