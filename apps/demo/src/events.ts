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

/** Describes a refused request from what it carried and the error it got; reads a clone, never the body itself. */
export async function refusalOf(request: Request, response: Response, accessCookie: string): Promise<SecurityEvent> {
  const body = (await response.clone().json().catch(() => null)) as { error?: { code?: string; message?: string } } | null
  const origin = request.headers.get('origin')
  const site = request.headers.get('sec-fetch-site')
  return {
    at: new Date().toISOString(),
    method: request.method,
    path: new URL(request.url).pathname,
    status: response.status,
    ...(body?.error?.code ? { code: body.error.code } : {}),
    ...(body?.error?.message ? { reason: body.error.message } : {}),
    ...(origin ? { origin } : {}),
    ...(site ? { secFetchSite: site } : {}),
    hadAccessCookie: (request.headers.get('cookie') ?? '').includes(`${accessCookie}=`),
  }
}
