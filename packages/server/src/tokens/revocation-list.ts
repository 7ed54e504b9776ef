import type { RevocationBus, Store } from '../store.ts'

/**
 * Session ids revoked recently enough that one of their access tokens may
 * still be unexpired. Checked on every request from memory; fed by this
 * instance's own revocations, the bus (other instances), and at start the
 * store (revocations made before this instance started).
 */
export class RevocationList {
  private readonly until = new Map<string, number>()
  private unsubscribe: (() => Promise<void>) | null = null
  private timer: NodeJS.Timeout | null = null

  constructor(
    /** Milliseconds an entry must live: the access-token lifetime plus leeway. */
    private readonly horizonMs: number,
    private readonly now: () => number,
    private readonly bus: RevocationBus | undefined,
  ) {}

  /**
   * Seeds from the store, then keeps polling it (one query per interval, not
   * per request): the only path between instances without a bus, and a safety
   * net for messages a bus drops while reconnecting.
   */
  async start(store: Store, onError: (e: unknown) => void = () => {}): Promise<void> {
    if (this.bus) this.unsubscribe = await this.bus.subscribe((ids) => this.addLocal(ids))
    let since = this.now() - this.horizonMs
    const poll = async () => {
      const at = this.now()
      this.addLocal(await store.revokedSince(since))
      // Overlap by a second: a revocation committed while we read is picked up next time.
      since = at - 1000
    }
    await poll()
    this.timer = setInterval(() => poll().catch(onError), this.bus ? 30_000 : 5_000)
    this.timer.unref()
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
    for (const id of sessionIds) this.until.set(id, t)
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
