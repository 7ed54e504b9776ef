/**
 * axios support, typed structurally so the core never imports axios. The
 * request interceptor adds credentials and the CSRF header; the response
 * error interceptor retries once on csrf_failed and refreshes-and-replays
 * once on an expired access token, marking the config so neither repeats.
 */

import { errorCode, isUnsafe } from './http.ts'
import type { Refresh } from './refresh.ts'
import type { AxiosConfigLike, AxiosLike } from './types.ts'

export type { AxiosConfigLike, AxiosInterceptorsLike, AxiosLike } from './types.ts'

export interface AxiosHooks {
  header: string
  token(fresh?: boolean): Promise<string>
  refresh: Refresh
  shouldRefresh(res: Response): boolean | Promise<boolean>
}

interface MarkedConfig extends AxiosConfigLike {
  /** Bit 1: replayed after csrf_failed; bit 2: replayed after a refresh. */
  _bastion?: number
  _bastionSentAt?: number
}

interface AxiosErrorLike {
  config?: MarkedConfig
  response?: { status: number; data?: unknown }
}

export function attachAxios(hooks: AxiosHooks, axios: AxiosLike): () => void {
  const { request, response } = axios.interceptors
  const requestId = request.use(async (config: MarkedConfig) => {
    config.withCredentials = true
    config._bastionSentAt = Date.now()
    if (isUnsafe(config.method)) (config.headers ??= {})[hooks.header] = await hooks.token()
    return config
  })
  const responseId = response.use(null, async (error: unknown) => {
    const { config, response: res } = (error ?? {}) as AxiosErrorLike
    if (!config || !res) throw error
    const done = config._bastion ?? 0
    // Rebuild a fetch Response so shouldRefresh has one signature for both paths.
    const fetchRes = new Response(typeof res.data == 'string' ? res.data : JSON.stringify(res.data ?? null), {
      status: res.status,
    })
    if (!(done & 1) && isUnsafe(config.method) && res.status == 403 && (await errorCode(fetchRes)) == 'csrf_failed') {
      config._bastion = done | 1
      await hooks.token(true)
      return axios.request(config)
    }
    if (!(done & 2) && (await hooks.shouldRefresh(fetchRes))) {
      config._bastion = done | 2
      if (await hooks.refresh(config._bastionSentAt ?? 0)) return axios.request(config)
    }
    throw error
  })
  return () => {
    request.eject(requestId)
    response.eject(responseId)
  }
}
