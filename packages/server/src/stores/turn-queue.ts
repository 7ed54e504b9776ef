/**
 * What the stores' batching shares (sqlite/group-commit.ts: one commit for
 * many rotations; postgres/turn-batch.ts: one statement for many calls): items
 * queued during one turn of the event loop are handed to `flush` together,
 * after that turn's I/O callbacks (`setImmediate`), so every request read in it
 * has had the chance to join; at most `maxBatch` at a time, the rest in the
 * next flush.
 *
 * @example
 * ```ts
 * const enqueue = turnQueue<Job>((jobs) => runTogether(jobs), 256)
 * enqueue(job) // flushed with whatever else is queued in this turn
 * ```
 */
export function turnQueue<T>(flush: (batch: T[]) => void, maxBatch: number): (item: T) => void {
  const limit = Math.max(1, maxBatch)
  let queue: T[] = []
  let scheduled = false

  function run(): void {
    scheduled = false
    const batch = queue.length > limit ? queue.splice(0, limit) : queue
    if (batch === queue) queue = []
    if (queue.length > 0) schedule()
    flush(batch)
  }

  function schedule(): void {
    scheduled = true
    setImmediate(run)
  }

  return (item) => {
    queue.push(item)
    if (!scheduled) schedule()
  }
}
