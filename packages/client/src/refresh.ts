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
  // Without Web Locks (node, old browsers) the in-tab single flight is all we have.
  return locks ? await locks.request(name, fn) : fn()
}
