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

  constructor(
    /** Milliseconds an entry must live: the access-token lifetime plus leeway. */
    private readonly horizonMs: number,
    private readonly now: () => number,
    private readonly bus: RevocationBus | undefined,
  ) {}

  async start(store: Store): Promise<void> {
    if (this.bus) this.unsubscribe = await this.bus.subscribe((ids) => this.addLocal(ids))
    this.addLocal(await store.revokedSince(this.now() - this.horizonMs))
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
    await this.unsubscribe?.()
  }
}
