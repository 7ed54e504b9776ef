import { turnQueue } from '../turn-queue.ts'

/**
 * Calls made in the same turn of the event loop, sent together: one statement
 * (one round trip) answers all of them. On PostgreSQL each round trip costs the
 * process a write and a read syscall and a parse of the reply, and under a burst
 * of refreshes that, not the database, was most of the server's time per call.
 * The PostgreSQL counterpart of sqlite/group-commit.ts, which shares one commit.
 *
 * `send` gets the batch's inputs and answers one output per input, in order; if
 * it fails, every caller of the batch gets its error (already translated by the
 * store), and none is left waiting.
 *
 * @example
 * ```ts
 * const reads = turnBatch(async (ids: readonly string[]) => readMany(ids))
 * const session = await reads.run(id) // joins whatever else is asked for in this turn
 * ```
 */
export interface TurnBatch<I, O> {
  /** Joins the next batch; resolves with this input's answer, or rejects with the batch's error. */
  run(input: I): Promise<O>
}

export interface TurnBatchOptions {
  /** Most inputs in one statement (default 256): bounds its size; the rest go into the next batch. */
  maxBatch?: number
}

interface Pending<I, O> {
  input: I
  resolve: (value: O) => void
  reject: (error: unknown) => void
}

let flushes = 0
/** How many batches have been sent in this process (each is one statement): for tests, which count round trips. */
export const batchesSentForTests = (): number => flushes

export function turnBatch<I, O>(send: (inputs: readonly I[]) => Promise<readonly O[]>, options: TurnBatchOptions = {}): TurnBatch<I, O> {
  const enqueue = turnQueue<Pending<I, O>>(flush, options.maxBatch ?? 256)

  function flush(batch: Pending<I, O>[]): void {
    flushes++
    let answers: Promise<readonly O[]>
    try {
      answers = send(batch.map((p) => p.input))
    } catch (e) {
      answers = Promise.reject(e)
    }
    answers.then(
      (outputs) => {
        if (outputs.length !== batch.length) {
          const e = new RangeError(`turnBatch: ${outputs.length} answers for ${batch.length} inputs`)
          for (const p of batch) p.reject(e)
          return
        }
        batch.forEach((p, i) => p.resolve(outputs[i] as O))
      },
      (e: unknown) => {
        for (const p of batch) p.reject(e)
      },
    )
  }

  return {
    run(input: I): Promise<O> {
      return new Promise<O>((resolve, reject) => enqueue({ input, resolve, reject }))
    },
  }
}
