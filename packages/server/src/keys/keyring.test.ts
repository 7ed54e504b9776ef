import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { deriveKey } from '../crypto/secret.ts'
import { sqliteStore } from '../stores/sqlite/index.ts'
import type { Store } from '../store.ts'
import { Keyring } from './keyring.ts'

const wrap = deriveKey('k'.repeat(40), 'key-wrap')
const dirs: string[] = []
const stores: Store[] = []

async function sharedStore(): Promise<() => Store> {
  const dir = mkdtempSync(join(tmpdir(), 'bastion-keyring-'))
  dirs.push(dir)
  const file = join(dir, 'bastion.sqlite')
  const first = sqliteStore({ file })
  await first.migrate()
  stores.push(first)
  // Each instance has its own connection to the one file, as separate processes would.
  return () => {
    const s = sqliteStore({ file })
    stores.push(s)
    return s
  }
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const keyring = (store: Store) => new Keyring(store, wrap, 'EdDSA', 420, Date.now)

describe('Keyring across instances', () => {
  it('instances racing to make the first key all end up with a signing key, and know each other\'s', async () => {
    for (let round = 0; round < 10; round++) {
      const open = await sharedStore()
      const rings = [keyring(open()), keyring(open()), keyring(open())]
      await Promise.all(rings.map((r) => r.init()))
      for (const r of rings) {
        // Was: each retired the keys the others had just made, and some were left with none to sign with.
        const { kid, alg } = r.signingKey()
        for (const other of rings) {
          if (!other.verificationKey(kid, alg)) await other.reloadIfStale()
          expect(other.verificationKey(kid, alg), `round ${round}: a peer's first key verifies`).not.toBeNull()
        }
      }
    }
  })

  it('requests arriving while a reload runs wait for it instead of being refused', async () => {
    const open = await sharedStore()
    const a = keyring(open())
    const b = keyring(open())
    await a.init()
    await b.init()
    await a.reloadIfStale() // A has just looked: the throttle is now in force
    const kid = await b.rotate()
    a['lastReload'] = -Infinity // the throttle window has passed
    const known = await Promise.all(
      Array.from({ length: 5 }, async () => {
        await a.reloadIfStale()
        return a.verificationKey(kid, 'EdDSA') !== null
      }),
    )
    expect(known).toEqual([true, true, true, true, true])
  })

  it('a flood of unknown kids costs at most one reload a second', async () => {
    const open = await sharedStore()
    let reads = 0
    const store = open()
    const counted = { ...store, listKeys: () => (reads++, store.listKeys()) } as Store
    const r = keyring(counted)
    await r.init()
    const before = reads
    for (let i = 0; i < 50; i++) await r.reloadIfStale()
    expect(reads - before).toBeLessThanOrEqual(1)
  })
})
