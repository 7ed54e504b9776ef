import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { BastionError, StoreUnavailableError } from '../errors.ts'
import { DeviceBinding, type DeviceBindingPolicy } from './binding.ts'
import { dpopNonces } from './nonce.ts'
import { memoryReplayCache, type ReplayCache } from './replay-cache.ts'
import { deviceKey } from './testing.ts'

const ORIGIN = 'https://app.example.com'
const REFRESH = `${ORIGIN}/auth/refresh`
const LOGIN = `${ORIGIN}/auth/login`

function setup(policy: DeviceBindingPolicy = 'when-offered', replayCache?: ReplayCache) {
  const clock = { t: Date.now() }
  const nonceKey = randomBytes(32)
  const binding = new DeviceBinding({ policy, nonceKey, now: () => clock.t, ...(replayCache ? { replayCache } : {}) })
  const req = (url: string, proof?: string, method = 'POST') => new Request(url, { method, headers: proof ? { DPoP: proof } : {} })
  return { binding, clock, req }
}

describe('DeviceBinding at session start', () => {
  it('binds to the key of a valid proof; no proof: unbound (when-offered) or refused (required); off ignores proofs', async () => {
    const key = await deviceKey()
    const { binding, req } = setup()
    const jkt = await binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN })), LOGIN)
    expect(jkt).toMatch(/^[\w-]{43}$/)
    expect(await binding.bindingFor(req(LOGIN), LOGIN)).toBeNull()
    const required = setup('required')
    await expect(required.binding.bindingFor(req(LOGIN), LOGIN)).rejects.toMatchObject({ code: 'bad_request' })
    const off = setup('off')
    expect(await off.binding.bindingFor(req(LOGIN, 'garbage'), LOGIN)).toBeNull()
  })

  it('refuses an offered proof that is bad (never downgrades to unbound), and a replayed one', async () => {
    const key = await deviceKey()
    const { binding, req } = setup()
    await expect(binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: REFRESH })), LOGIN)).rejects.toMatchObject({ code: 'bad_request' })
    const proof = await key.proof({ htm: 'POST', htu: LOGIN })
    await binding.bindingFor(req(LOGIN, proof), LOGIN)
    await expect(binding.bindingFor(req(LOGIN, proof), LOGIN)).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/used before/) })
  })

  it('answers a skewed clock with a DPoP-Nonce, and accepts the retry that carries it', async () => {
    const key = await deviceKey()
    const { binding, req, clock } = setup()
    const skewedIat = Math.floor(clock.t / 1000) - 600
    const e = await binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN, iat: skewedIat })), LOGIN).catch((x: BastionError) => x)
    expect(e).toBeInstanceOf(BastionError)
    expect((e as BastionError).status).toBe(401)
    const nonce = (e as BastionError).headers!['DPoP-Nonce']!
    expect(nonce).toBeTruthy()
    expect((e as BastionError).headers!['WWW-Authenticate']).toMatch(/use_dpop_nonce/)
    expect(await binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN, iat: skewedIat, nonce })), LOGIN)).toMatch(/^[\w-]{43}$/)
    // A nonce from another server secret, or one three minutes old, is not.
    const foreign = dpopNonces({ key: randomBytes(32), now: () => clock.t }).issue()
    await expect(binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN, iat: skewedIat, nonce: foreign })), LOGIN)).rejects.toMatchObject({ status: 401 })
    clock.t += 180_000
    await expect(binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN, iat: skewedIat, nonce })), LOGIN)).rejects.toMatchObject({ status: 401 })
  })
})

describe('DeviceBinding on refresh', () => {
  it('passes a proof by the session key; racing tabs each with their own proof all pass', async () => {
    const key = await deviceKey()
    const { binding, req } = setup()
    const jkt = (await binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN })), LOGIN))!
    const verdicts = await Promise.all(Array.from({ length: 4 }, async () => binding.checkRefresh(req(REFRESH, await key.proof({ htm: 'POST', htu: REFRESH })), REFRESH, jkt)))
    expect(verdicts).toEqual(Array(4).fill({ ok: true }))
  })

  it('refuses and revokes: no proof, another key, a replayed proof, a proof for another URL or method', async () => {
    const [key, thief] = [await deviceKey(), await deviceKey()]
    const { binding, req } = setup()
    const jkt = (await binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN })), LOGIN))!
    const check = async (proof?: string) => binding.checkRefresh(req(REFRESH, proof), REFRESH, jkt)
    const used = await key.proof({ htm: 'POST', htu: REFRESH })
    expect(await check(used)).toEqual({ ok: true })
    const cases: [string, string | undefined][] = [
      ['missing', undefined],
      ['wrong_key', await thief.proof({ htm: 'POST', htu: REFRESH })],
      ['replayed', used],
      ['wrong_url', await key.proof({ htm: 'POST', htu: LOGIN })],
      ['wrong_method', await key.proof({ htm: 'GET', htu: REFRESH })],
      ['bad_alg', await key.proof({ htm: 'POST', htu: REFRESH }, { header: { alg: 'HS256' } })],
    ]
    for (const [failure, proof] of cases) {
      const v = await check(proof)
      expect(v, failure).toMatchObject({ ok: false, failure, revoke: true })
      if (!v.ok) expect(v.error.status).toBe(401)
    }
  })

  it('a stale proof by the session key is a skewed clock: refused with a nonce, not revoked; by another key it is theft', async () => {
    const [key, thief] = [await deviceKey(), await deviceKey()]
    const { binding, req, clock } = setup()
    const jkt = (await binding.bindingFor(req(LOGIN, await key.proof({ htm: 'POST', htu: LOGIN })), LOGIN))!
    const old = Math.floor(clock.t / 1000) - 120
    const v = await binding.checkRefresh(req(REFRESH, await key.proof({ htm: 'POST', htu: REFRESH, iat: old })), REFRESH, jkt)
    expect(v).toMatchObject({ ok: false, failure: 'stale', revoke: false })
    const nonce = !v.ok ? v.error.headers!['DPoP-Nonce']! : ''
    expect(await binding.checkRefresh(req(REFRESH, await key.proof({ htm: 'POST', htu: REFRESH, iat: old, nonce })), REFRESH, jkt)).toEqual({ ok: true })
    expect(await binding.checkRefresh(req(REFRESH, await thief.proof({ htm: 'POST', htu: REFRESH, iat: old })), REFRESH, jkt)).toMatchObject({
      failure: 'wrong_key',
      revoke: true,
    })
  })

  it('unbound sessions refresh as before unless binding is required; off lets a bound session through', async () => {
    const { binding, req } = setup()
    expect(await binding.checkRefresh(req(REFRESH), REFRESH, null)).toEqual({ ok: true })
    expect(await setup('required').binding.checkRefresh(req(REFRESH), REFRESH, null)).toMatchObject({ ok: false, failure: 'unbound', revoke: false })
    expect(await setup('off').binding.checkRefresh(req(REFRESH), REFRESH, 'x'.repeat(43))).toEqual({ ok: true })
  })

  it('fails closed when the replay cache cannot remember', async () => {
    const key = await deviceKey()
    const down: ReplayCache = { claim: async () => Promise.reject(new StoreUnavailableError('down')) }
    const { binding, req } = setup('when-offered', down)
    await expect(binding.checkRefresh(req(REFRESH, await key.proof({ htm: 'POST', htu: REFRESH })), REFRESH, 'x'.repeat(43))).rejects.toBeInstanceOf(StoreUnavailableError)
  })
})

describe('memoryReplayCache', () => {
  it('accepts a key once until it expires, and refuses new keys when full of live ones (never forgets one early)', async () => {
    const cache = memoryReplayCache({ maxEntries: 3 })
    expect(await cache.claim('a', 1000, 0)).toBe(true)
    expect(await cache.claim('a', 1000, 500)).toBe(false)
    expect(await cache.claim('a', 2000, 1000)).toBe(true) // expired, may be claimed again (its proof is stale by now)
    await cache.claim('b', 5000, 1000)
    await cache.claim('c', 5000, 1000)
    await expect(cache.claim('d', 5000, 1500)).rejects.toBeInstanceOf(StoreUnavailableError)
    expect(await cache.claim('b', 5000, 1500)).toBe(false)
    expect(await cache.claim('d', 6000, 2500)).toBe(true) // 'a' expired at 2000 and was swept
    expect(cache.size).toBe(3)
  })
})
