/**
 * Errors are values with stable codes that clients switch on; the HTTP
 * status is a property of the code, so a handler cannot pair them wrongly.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthenticated: 401,
  token_expired: 401,
  invalid_credentials: 401,
  csrf_failed: 403,
  forbidden_origin: 403,
  not_found: 404,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  /** The gateway's upstream refused or dropped the connection. */
  upstream_unavailable: 502,
  /** The gateway's upstream did not answer within its timeout. */
  upstream_timeout: 504,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export class BastionError extends Error {
  readonly code: ErrorCode
  readonly status: number
  /** Seconds, for `rate_limited`. */
  readonly retryAfter: number | undefined
  /** Extra headers the answer must carry (e.g. `WWW-Authenticate`). */
  readonly headers: Record<string, string> | undefined

  constructor(
    code: ErrorCode,
    message: string,
    extra: { retryAfter?: number; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause })
    this.name = 'BastionError'
    this.code = code
    this.status = ERROR_STATUS[code]
    this.retryAfter = extra.retryAfter
    this.headers = extra.headers
  }
}

/** Configuration that would silently not work, or open a hole: stops the start. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** A store that cannot answer: the request fails closed with `unavailable`. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}

/** A unique constraint refused a write (e.g. the username is taken). */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StoreConflictError'
  }
}

export const isBastionError = (e: unknown): e is BastionError => e instanceof BastionError
