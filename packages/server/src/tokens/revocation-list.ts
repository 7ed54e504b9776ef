import type { RevocationBus, Store } from '../store.ts'

/**
 * Session ids revoked recently enough that one of their access tokens may
 * still be unexpired. Checked on every request from memory; fed by this
 * instance's own revocations, the bus (other instances), and at start the
 * store (revocations made before this instance started).
 */
/** Without a working bus, how often the store is asked for revocations made elsewhere. */
const POLL_WITHOUT_BUS_MS = 5_000
/** With a working bus, the store poll is only a safety net. */
const POLL_WITH_BUS_MS = 30_000

export type RevocationListEvent =
  | { kind: 'poll_failed'; error: unknown }
  | { kind: 'bus_degraded'; error?: unknown }
  | { kind: 'bus_recovered' }

export class RevocationList {
  private readonly until = new Map<string, number>()
  private unsubscribe: (() => Promise<void>) | null = null
  private timer: NodeJS.Timeout | null = null
  private busHealthy = false
  private lastPoll = 0

  constructor(
    /** Milliseconds an entry must live: the access-token lifetime plus leeway. */
    private readonly horizonMs: number,
    private readonly now: () => number,
    private readonly bus: RevocationBus | undefined,
  ) {}

  /**
   * Seeds from the store, then keeps polling it (one query per interval, not
   * per request): every 5 s when there is no bus or the bus is down (the
   * bound on how late another instance's revocation arrives), every 30 s as
   * a safety net while the bus works. A bus that cannot be reached at start
   * does not stop the start: it is retried on every tick.
   */
  async start(store: Store, report: (event: RevocationListEvent) => void = () => {}): Promise<void> {
    let since = this.now() - this.horizonMs
    const poll = async () => {
      const at = this.now()
      this.lastPoll = performance.now()
      this.addLocal(await store.revokedSince(since))
      // Overlap by a second: a revocation committed while we read is picked up next time.
      since = at - 1000
    }
    const checkBus = async (): Promise<boolean> => {
      if (!this.bus) return false
      const wasHealthy = this.busHealthy
      try {
        this.unsubscribe ??= await this.bus.subscribe((ids) => this.addLocal(ids))
        this.busHealthy = this.bus.connected?.() ?? true
      } catch (error) {
        this.busHealthy = false
        if (wasHealthy || this.lastPoll === 0) report({ kind: 'bus_degraded', error })
        return false
      }
      if (wasHealthy && !this.busHealthy) report({ kind: 'bus_degraded' })
      // Messages sent while it was down are lost: the caller polls at once to catch up.
      if (!wasHealthy && this.busHealthy && this.lastPoll !== 0) report({ kind: 'bus_recovered' })
      return !wasHealthy && this.busHealthy
    }
    await checkBus()
    await poll()
    const tick = async () => {
      const recovered = await checkBus()
      const due = this.busHealthy ? POLL_WITH_BUS_MS : POLL_WITHOUT_BUS_MS
      if (recovered || performance.now() - this.lastPoll >= due - 50) await poll()
    }
    this.timer = setInterval(() => tick().catch((error: unknown) => report({ kind: 'poll_failed', error })), POLL_WITHOUT_BUS_MS)
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
