import { describe, expect, it } from 'vitest'
import { batchesSentForTests, turnBatch } from './turn-batch.ts'

describe('turnBatch', () => {
  it('sends the calls of one turn together, each answered from its place in the batch', async () => {
    const sent: string[][] = []
    const upper = turnBatch(async (inputs: readonly string[]) => {
      sent.push([...inputs])
      return inputs.map((s) => s.toUpperCase())
    })
    const before = batchesSentForTests()
    expect(await Promise.all(['a', 'b', 'a', 'c'].map((s) => upper.run(s)))).toEqual(['A', 'B', 'A', 'C'])
    expect(sent).toEqual([['a', 'b', 'a', 'c']])
    expect(batchesSentForTests() - before).toBe(1)
    // A later turn is a new batch.
    expect(await upper.run('d')).toBe('D')
    expect(sent).toHaveLength(2)
  })

  it('joins calls made by later callbacks of the same phase of the event loop', async () => {
    const sent: number[][] = []
    const echo = turnBatch(async (inputs: readonly number[]) => {
      sent.push([...inputs])
      return inputs
    })
    // Both callbacks run in this check phase; the flush the first one schedules runs in the next.
    const outs = await Promise.all([1, 2].map((n) => new Promise<number>((resolve) => setImmediate(() => resolve(echo.run(n))))))
    expect(outs).toEqual([1, 2])
    expect(sent).toEqual([[1, 2]])
  })

  it('sends at most maxBatch inputs at once; the rest go into the next batch', async () => {
    const sizes: number[] = []
    const echo = turnBatch(
      async (inputs: readonly number[]) => {
        sizes.push(inputs.length)
        return inputs
      },
      { maxBatch: 4 },
    )
    const inputs = Array.from({ length: 10 }, (_, i) => i)
    expect(await Promise.all(inputs.map((i) => echo.run(i)))).toEqual(inputs)
    expect(sizes).toEqual([4, 4, 2])
  })

  it('fails every caller of a batch whose send fails, rejects or answers the wrong count; none is left waiting', async () => {
    const boom = new Error('down')
    const rejecting = turnBatch<number, number>(async () => {
      throw boom
    })
    const throwing = turnBatch<number, number>(() => {
      throw boom
    })
    const short = turnBatch(async (inputs: readonly number[]) => inputs.slice(1))
    for (const batch of [rejecting, throwing]) {
      const outs = await Promise.allSettled([1, 2, 3].map((n) => batch.run(n)))
      expect(outs).toEqual([1, 2, 3].map(() => ({ status: 'rejected', reason: boom })))
    }
    const outs = await Promise.allSettled([1, 2].map((n) => short.run(n)))
    expect(outs.map((o) => o.status)).toEqual(['rejected', 'rejected'])
    // The next batch is sent as usual.
    const echo = turnBatch(async (inputs: readonly number[]) => inputs)
    expect(await echo.run(7)).toBe(7)
  })
})
