import type pg from 'pg'

/**
 * Runs `body` in one transaction on a client of `pool`: COMMIT when it
 * resolves, ROLLBACK when it throws (the error passes through unchanged, for
 * the caller to translate). A client whose connection failed is discarded
 * rather than returned to the pool.
 *
 * @example
 * ```ts
 * const id = await inTransaction(pool, async (c) => (await c.query('INSERT … RETURNING id')).rows[0].id)
 * ```
 */
export async function inTransaction<R>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<R>): Promise<R> {
  const client = await pool.connect()
  let broken: Error | undefined
  // A connection lost while the client is checked out is emitted as an 'error' event, which would
  // crash the process without a listener; the transaction's next query fails and reports it.
  const onLost = (e: Error) => (broken = e)
  client.on('error', onLost)
  try {
    await client.query('BEGIN')
    const result = await body(client)
    await client.query('COMMIT')
    return result
  } catch (e) {
    try {
      await client.query('ROLLBACK')
    } catch (rollbackError) {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))
    }
    throw e
  } finally {
    client.off('error', onLost)
    client.release(broken)
  }
}
