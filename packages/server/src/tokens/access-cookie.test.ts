import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CompactEncrypt } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { deriveKey } from '../crypto/secret.ts'
import { BastionError } from '../errors.ts'
import { Keyring } from '../keys/keyring.ts'
import { sqliteStore } from '../stores/sqlite/index.ts'
import type { Store } from '../store.ts'
import { AccessCookie, cookieEncryptionKey, type AccessCookieFormat } from './access-cookie.ts'
import { AccessTokens } from './access-token.ts'

const SECRET = 's'.repeat(40)
const TTL = 300
const dirs: string[] = []
const stores: Store[] = []

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function openStore(file?: string): Promise<{ store: Store; file: string }> {
  if (!file) {
    const dir = mkdtempSync(join(tmpdir(), 'bastion-cookie-'))
    dirs.push(dir)
    file = join(dir, 'bastion.sqlite')
  }
  const store = sqliteStore({ file })
  await store.migrate()
  stores.push(store)
  return { store, file }
}

class Clock {
  t = Date.now()
  now = () => this.t
}

/** One server's token service on a real SQLite store: keyring, cookie codec, access tokens. */
async function instance(format: AccessCookieFormat, opts: { file?: string; clock?: Clock; secret?: string } = {}) {
  const clock = opts.clock ?? new Clock()
  const { store, file } = await openStore(opts.file)
  const secret = opts.secret ?? SECRET
  const keyring = new Keyring(store, deriveKey(secret, 'key-wrap'), 'EdDSA', TTL + 120, clock.now)
  await keyring.init()
  const cookie = new AccessCookie({ format, secret, keys: keyring })
  const tokens = new AccessTokens(keyring, { issuer: 'bastion', audience: 'bastion', ttl: TTL, now: clock.now, cookie })
  const issue = async () => {
    const { token } = await tokens.sign({ userId: 'u1', username: 'alice', sessionId: 'sid-1', clientId: 'bastion-web' })
    return { token, cookie: await tokens.cookieValue(token) }
  }
  return { keyring, cookie, tokens, issue, clock, file }
}

const segment = (value: string, i: number) => value.split('.')[i]!
const json = (seg: string) => JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'))

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'accepted'
  } catch (e) {
    if (e instanceof BastionError) return e.code
    throw e
  }
}

describe('AccessCookie, format jws (the default)', () => {
  it('the cookie is the signed token itself', async () => {
    const s = await instance('jws')
    const { token, cookie } = await s.issue()
    expect(cookie).toBe(token)
    expect((await s.tokens.verifyCookie(cookie)).preferred_username).toBe('alice')
  })
})

describe('AccessCookie, format jwe', () => {
  it('the cookie is a dir/A256GCM JWE whose kid is the signing key, and shows no claim', async () => {
    const s = await instance('jwe')
    const { token, cookie } = await s.issue()
    expect(cookie.split('.')).toHaveLength(5)
    expect(json(segment(cookie, 0))).toEqual({ alg: 'dir', enc: 'A256GCM', kid: s.keyring.signingKey().kid, cty: 'JWT' })
    expect(segment(cookie, 1)).toBe('')
    // Neither the username nor the session id nor any part of the JWS is readable in the value.
    const visible = cookie + Buffer.from(segment(cookie, 3), 'base64url').toString('latin1')
    for (const secret of ['alice', 'sid-1', segment(token, 1), segment(token, 2)]) expect(visible).not.toContain(secret)
    const claims = await s.tokens.verifyCookie(cookie)
    expect(claims).toMatchObject({ sub: 'u1', sid: 'sid-1', preferred_username: 'alice' })
  })

  it('a verified cookie is cached by its whole value: the next look is synchronous', async () => {
    const s = await instance('jwe')
    const { token, cookie } = await s.issue()
    expect(s.tokens.cached(cookie)).toBeUndefined()
    await s.tokens.verifyCookie(cookie)
    expect(s.tokens.cached(cookie)).toMatchObject({ sid: 'sid-1' })
    // The inner JWS is not a key of the cache: only the cookie value verified.
    expect(s.tokens.cached(token)).toBeUndefined()
    // One character changed at the cache index's far end (the tag) is a miss, and then refused.
    const last = cookie.at(-2) === 'A' ? 'B' : 'A'
    const tampered = cookie.slice(0, -2) + last + cookie.slice(-1)
    expect(s.tokens.cached(tampered)).toBeUndefined()
    expect(await codeOf(s.tokens.verifyCookie(tampered))).toBe('unauthenticated')
  })

  it('an expired cookie answers token_expired', async () => {
    const s = await instance('jwe')
    const { cookie } = await s.issue()
    s.clock.t += (TTL + 10) * 1000
    expect(await codeOf(s.tokens.verifyCookie(cookie))).toBe('token_expired')
  })

  it('key rotation: cookies sealed before it keep decrypting (on this and a peer instance), new ones use the new kid', async () => {
    const clock = new Clock()
    const a = await instance('jwe', { clock })
    const before = await a.issue()
    const oldKid = json(segment(before.cookie, 0)).kid
    const newKid = await a.keyring.rotate()
    expect(newKid).not.toBe(oldKid)
    const after = await a.issue()
    expect(json(segment(after.cookie, 0)).kid).toBe(newKid)
    // A peer on the same store and secret, which never saw either cookie (nothing cached).
    const b = await instance('jwe', { clock, file: a.file })
    expect((await b.tokens.verifyCookie(before.cookie)).sid).toBe('sid-1')
    expect((await b.tokens.verifyCookie(after.cookie)).sid).toBe('sid-1')
    // Once the old key stops verifying (token lifetime + slack after retirement), its cookies stop decrypting.
    clock.t += (TTL + 121) * 1000
    const c = await instance('jwe', { clock, file: a.file })
    expect(await codeOf(c.tokens.verifyCookie(before.cookie))).toBe('unauthenticated')
  })

  it('a key made by another instance is learnt on first sight (a reload), not refused', async () => {
    const clock = new Clock()
    const a = await instance('jwe', { clock })
    const b = await instance('jwe', { clock, file: a.file })
    await b.keyring.rotate()
    const fromB = await b.issue()
    expect((await a.tokens.verifyCookie(fromB.cookie)).sid).toBe('sid-1')
  })

  it('a cookie sealed under another secret, or with a kid the keyring does not know, is refused', async () => {
    const s = await instance('jwe')
    const { token } = await s.issue()
    const kid = s.keyring.signingKey().kid
    const seal = (key: Uint8Array, header: Record<string, unknown>, plaintext = token) =>
      new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(header as never).encrypt(key)
    const header = { alg: 'dir', enc: 'A256GCM', kid, cty: 'JWT' }
    // Positive control: the server's own key and header open.
    expect((await s.tokens.verifyCookie(await seal(cookieEncryptionKey(SECRET, kid), header))).sid).toBe('sid-1')
    const cases: Record<string, string> = {
      'another secret': await seal(cookieEncryptionKey('t'.repeat(40), kid), header),
      'an unknown kid, its key derived correctly': await seal(cookieEncryptionKey(SECRET, 'nope'), { ...header, kid: 'nope' }),
      'kid swapped for another after sealing': (await seal(cookieEncryptionKey(SECRET, kid), header)).replace(/^[^.]+/, Buffer.from(JSON.stringify({ ...header, kid: 'x' })).toString('base64url')),
      'an extra header member (zip)': await seal(cookieEncryptionKey(SECRET, kid), { ...header, zip: 'DEF' }).catch(() => 'x.y.z.w.v'),
      'an extra header member (crit-free jku)': await seal(cookieEncryptionKey(SECRET, kid), { ...header, jku: 'https://evil.example/jwks' }),
      'no cty': await seal(cookieEncryptionKey(SECRET, kid), { alg: 'dir', enc: 'A256GCM', kid }),
      'A128GCM with half the key': await seal(cookieEncryptionKey(SECRET, kid).slice(0, 16), { ...header, enc: 'A128GCM' }),
      'a nested token that is not a JWS': await seal(cookieEncryptionKey(SECRET, kid), header, '{"sub":"u1","sid":"sid-1"}'),
      'a nested JWS with alg none': await seal(
        cookieEncryptionKey(SECRET, kid),
        header,
        `${Buffer.from('{"alg":"none","kid":"' + kid + '","typ":"at+jwt"}').toString('base64url')}.${segment(token, 1)}.`,
      ),
      'five empty segments': '....',
      'six segments': `${(await seal(cookieEncryptionKey(SECRET, kid), header))}.x`,
      'huge': 'a'.repeat(5000),
    }
    for (const [label, value] of Object.entries(cases)) {
      expect({ label, code: await codeOf(s.tokens.verifyCookie(value)) }).toEqual({ label, code: 'unauthenticated' })
    }
  })

  it('every single-character change of a sealed cookie is refused', async () => {
    const s = await instance('jwe')
    const { cookie } = await s.issue()
    // Changes that keep the data bits but flip a last character's spare bits are included: one cookie has one spelling.
    const alphabet = 'AQgwB'
    let tried = 0
    for (let i = 0; i < cookie.length; i++) {
      if (cookie[i] === '.') continue
      const c = [...alphabet].find((x) => x !== cookie[i])!
      const changed = cookie.slice(0, i) + c + cookie.slice(i + 1)
      expect({ i, code: await codeOf(s.tokens.verifyCookie(changed)) }).toEqual({ i, code: 'unauthenticated' })
      tried++
    }
    expect(tried).toBe(cookie.length - 4)
  })

  it('a nested JWS signed with another (still valid) key than the JWE names is refused', async () => {
    const s = await instance('jwe')
    const { token: oldToken } = await s.issue()
    const oldKid = s.keyring.signingKey().kid
    const newKid = await s.keyring.rotate()
    // The old token, sealed under the new kid's key: each part valid alone, the pair is not what Bastion issues.
    const mixed = await new CompactEncrypt(new TextEncoder().encode(oldToken))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: newKid, cty: 'JWT' })
      .encrypt(cookieEncryptionKey(SECRET, newKid))
    expect(oldKid).not.toBe(newKid)
    expect(await codeOf(s.tokens.verifyCookie(mixed))).toBe('unauthenticated')
  })
})

describe('changing the format', () => {
  it('a cookie of the other format whose token verifies answers token_expired (refresh), never 200', async () => {
    const clock = new Clock()
    const jws = await instance('jws', { clock })
    const jwe = await instance('jwe', { clock, file: jws.file })
    const plain = await jws.issue()
    const sealed = await jwe.issue()
    expect(await codeOf(jwe.tokens.verifyCookie(plain.cookie))).toBe('token_expired')
    expect(await codeOf(jws.tokens.verifyCookie(sealed.cookie))).toBe('token_expired')
    // An invalid token of the other format is just invalid.
    const forged = plain.cookie.slice(0, -4) + 'AAAA'
    expect(await codeOf(jwe.tokens.verifyCookie(forged))).toBe('unauthenticated')
    // Bearer tokens stay signed JWTs whatever the cookie format.
    expect((await jwe.tokens.verify(sealed.token)).sid).toBe('sid-1')
    expect(await codeOf(jwe.tokens.verify(sealed.cookie))).toBe('unauthenticated')
  })
})
