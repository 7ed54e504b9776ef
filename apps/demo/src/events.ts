/** A refused request, as the demo shows it on the attacker page. Never holds a token. */
export interface SecurityEvent {
  at: string
  method: string
  path: string
  status: number
  code?: string
  reason?: string
  origin?: string
  secFetchSite?: string
  /** Whether the request carried the access cookie at all (SameSite withholds it cross-site). */
  hadAccessCookie: boolean
}

/** The last refusals, in memory, newest first. */
export class SecurityEvents {
  private readonly items: SecurityEvent[] = []

  constructor(private readonly capacity = 100) {}

  record(event: SecurityEvent): void {
    this.items.unshift(event)
    if (this.items.length > this.capacity) this.items.length = this.capacity
  }

  recent(n = 20): SecurityEvent[] {
    return this.items.slice(0, n)
  }
}
