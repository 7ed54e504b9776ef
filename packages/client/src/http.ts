/** Small HTTP helpers shared by the fetch path and the axios path. */

interface ErrorBody {
  error?: { code?: string; message?: string }
}

const SAFE_METHOD = /^(GET|HEAD|OPTIONS)$/i

/** Methods that change state need the CSRF header (RFC 9110 safe methods do not). */
export const isUnsafe = (method = 'GET'): boolean => !SAFE_METHOD.test(method)

/** Parses JSON from a clone, so the caller still gets an unread response. */
export const readJson = <T>(res: Response): Promise<T | undefined> =>
  res.clone().json().then((body: T) => body, () => undefined)

export const errorCode = async (res: Response): Promise<string | undefined> =>
  (await readJson<ErrorBody>(res))?.error?.code

/** The contract's default `shouldRefresh`: only an expired access token is worth a refresh. */
export const isTokenExpired = async (res: Response): Promise<boolean> =>
  res.status === 401 && (await errorCode(res)) === 'token_expired'

/** A non-2xx answer from an auth endpoint, with the contract's error code. */
export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from `Retry-After` (rate_limited). */
    readonly retryAfter?: number,
  ) {
    super(message)
    this.name = 'AuthError'
  }
}

/** Resolves with `res` when 2xx, otherwise throws its AuthError. */
export const ok = async (res: Response): Promise<Response> => {
  if (res.ok) return res
  const error = (await readJson<ErrorBody>(res))?.error
  throw new AuthError(
    res.status,
    error?.code ?? 'http_' + res.status,
    error?.message ?? res.statusText,
    Number(res.headers.get('retry-after')) || undefined,
  )
}

export function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
