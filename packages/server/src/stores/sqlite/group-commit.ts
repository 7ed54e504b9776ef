import { turnQueue } from '../turn-queue.ts'
import type { SqliteDatabase } from './driver.ts'

/**
 * Write transactions asked for in the same turn of the event loop, committed
 * together: one `BEGIN IMMEDIATE … COMMIT`, so one fsync (`synchronous=FULL`)
 * for all of them instead of one each. With a synchronous driver the fsync
 * blocks the event loop; under a burst of refreshes it was most of the
 * server's time per rotation.
 *
 * Each body still runs in its own SAVEPOINT: one that throws is rolled back
 * alone and its caller gets the error, the others commit. Nothing is
 * acknowledged before the commit that makes it durable returns; a commit that
 * fails fails every body in it (none of them is on disk).
 *
 * @example
 * ```ts
 * const writes = groupCommit(db)
 * const outcome = await writes.run(() => rotateTx(input)) // joins whatever else is asked for in this turn
 * ```
 */
export interface GroupCommit {
  /** Runs `body` (synchronous) in the next group transaction; resolves after its commit. */
  run<T>(body: () => T): Promise<T>
}

export interface GroupCommitOptions {
  /** Most bodies in one transaction (default 256): bounds how long one commit holds the event loop. */
  maxBatch?: number
}

interface Pending {
  body: () => unknown
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

export function groupCommit(db: SqliteDatabase, options: GroupCommitOptions = {}): GroupCommit {
  const enqueue = turnQueue<Pending>(commit, options.maxBatch ?? 256)

  function commit(batch: Pending[]): void {
    if (batch.length === 1) {
      // Alone: its own transaction, no savepoint.
      const only = batch[0]!
      try {
        only.resolve(db.immediate(only.body))
      } catch (e) {
        only.reject(e)
      }
      return
    }
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = []
    try {
      db.immediate(() => {
        for (const p of batch) {
          try {
            // Nested: a SAVEPOINT, rolled back alone if this body throws.
            results.push({ ok: true, value: db.immediate(p.body) })
          } catch (error) {
            results.push({ ok: false, error })
          }
        }
      })
    } catch (e) {
      // The commit (or BEGIN) failed: none of the batch is on disk, so none of it is acknowledged.
      for (const p of batch) p.reject(e)
      return
    }
    batch.forEach((p, i) => {
      const r = results[i]!
      if (r.ok) p.resolve(r.value)
      else p.reject(r.error)
    })
  }

  return {
    run<T>(body: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => enqueue({ body, resolve: resolve as (v: unknown) => void, reject }))
    },
  }
}
