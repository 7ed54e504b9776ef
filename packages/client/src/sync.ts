/**
 * Tab sync. BroadcastChannel tells the other tabs of this origin about
 * sign-in, sign-out and refreshes; localStorage keeps the "last refresh
 * completed at" timestamp so a tab that just won the refresh lock can see,
 * synchronously, that another tab already refreshed. Nothing secret is
 * stored: only a timestamp. Both APIs are optional (SSR, node, old browsers).
 */

import type { TabMessage, TabMessageType } from './types.ts'

export interface TabSync {
  post(type: TabMessageType): void
  /** Latest refresh completion known to this tab (ms epoch). */
  refreshedAt(): number
  close(): void
}

export function createTabSync(name: string, onMessage: (message: TabMessage) => void): TabSync {
  const key = name + ':refreshedAt'
  let refreshedAt = 0
  const channel = typeof BroadcastChannel == 'function' ? new BroadcastChannel(name) : undefined
  // Node keeps the process alive for an open channel; browsers have no unref.
  ;(channel as { unref?: () => void } | undefined)?.unref?.()
  if (channel)
    channel.onmessage = ({ data }: MessageEvent<TabMessage>) => {
      if (data.type == 'refreshed') refreshedAt = Math.max(refreshedAt, data.at)
      onMessage(data)
    }

  return {
    post(type) {
      const at = Date.now()
      if (type == 'refreshed') {
        refreshedAt = at
        try {
          localStorage.setItem(key, '' + at)
        } catch {
          // no localStorage (node, SSR, privacy mode): the channel still carries it
        }
      }
      channel?.postMessage({ type, at })
    },
    refreshedAt() {
      let stored = 0
      try {
        stored = Number(localStorage.getItem(key)) || 0
      } catch {
        // see post()
      }
      return Math.max(refreshedAt, stored)
    },
    close: () => channel?.close(),
  }
}
