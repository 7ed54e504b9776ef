/**
 * Single-flight refresh. In a tab, concurrent callers share one promise.
 * Across tabs, a Web Lock serialises refreshes; the winner rotates the
 * refresh token and records when it finished, and a tab that gets the lock
 * afterwards sees that a refresh completed after its request was sent and
 * only replays (a second rotation would present an already-used token).
 */

export type Refresh = (sentAt: number) => Promise<boolean>

export function createRefresher(
  lockName: string,
  lastRefreshedAt: () => number,
  run: () => Promise<boolean>,
): Refresh {
  let inflight: Promise<boolean> | undefined
  return (sentAt) =>
    (inflight ??= withLock(lockName, () => (lastRefreshedAt() > sentAt ? Promise.resolve(true) : run())).finally(
      () => (inflight = undefined),
    ))
}

async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator == 'object' ? navigator.locks : undefined
  if (locks) return locks.request(name, fn)
  try {
    localStorage.length
  } catch {
    return fn() // no storage either (node, SSR): the in-tab single flight is all there is
  }
  return lease(name + ':lease', fn)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Fallback without Web Locks: a short lease in localStorage. Not atomic (two
 * tabs may both write within the settle delay), but it narrows the race to a
 * few milliseconds, and the server's refresh grace covers what it misses.
 */
async function lease<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const me = Math.random() + ' '
  for (let i = 0; i < 50; i++) {
    const held = localStorage.getItem(key)
    if (!held || +held.split(' ')[1]! < Date.now()) {
      localStorage.setItem(key, me + (Date.now() + 5e3))
      await sleep(25)
      if (localStorage.getItem(key)?.startsWith(me))
        try {
          return await fn()
        } finally {
          localStorage.removeItem(key)
        }
    }
    await sleep(100)
  }
  return fn()
}
