/**
 * Shared pieces of the adversarial suite: the fuzzing budget (small and seeded
 * in `npm test`, large in `npm run fuzz`), an audit-log collector, a raw JWS
 * signer that holds the server's own private key (to prove that a refusal is
 * about the one defect under test, not about the signature), and the
 * contract's oracle for "any answer to a hostile request".
 */
import { createPrivateKey, sign as nodeSign } from 'node:crypto'
import { expect } from 'vitest'
import type { LogEvent } from '../config.ts'
import { deriveKey, open } from '../crypto/secret.ts'
import { CompactEncrypt, compactDecrypt } from 'jose'
import { errorShapeProblems, TEST_ACCESS_FORMAT, type Res, type TestServer } from '../testing/harness.ts'
import { cookieEncryptionKey } from '../tokens/access-cookie.ts'

/** `BASTION_FUZZ_RUNS` multiplies every property's run count (`npm run fuzz` sets it); 1 in `npm test`. */
export const FUZZ_SCALE = Math.max(1, Number(process.env.BASTION_FUZZ_RUNS ?? 1) || 1)
/** Fixed in `npm test` so a failure replays; `BASTION_FUZZ_SEED` explores another corner. */
export const FUZZ_SEED = Number(process.env.BASTION_FUZZ_SEED ?? 20_261_123)

/** fast-check parameters for a property that runs `base` cases in `npm test`. */
export function fuzzParams(base: number): { seed: number; numRuns: number; endOnFailure: true } {
  return { seed: FUZZ_SEED, numRuns: base * FUZZ_SCALE, endOnFailure: true }
}

/** Every security event the server logs, in order. */
export class LogCollector {
  readonly events: LogEvent[] = []
  readonly log = (e: LogEvent): void => {
    // A copy through JSON: what a real sink would write, and proof the event serializes.
    this.events.push(JSON.parse(JSON.stringify(e)) as LogEvent)
  }
  named(name: string): LogEvent[] {
    return this.events.filter((e) => e.event === name)
  }
  clear(): void {
    this.events.length = 0
  }
}

const enc = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url')
export const b64json = (o: unknown): string => enc(JSON.stringify(o))

/**
 * Signs `headerJson.payloadJson` (raw strings: duplicate keys and odd
 * spellings survive) with the server's current private key, read from its
 * store (SQLite or PostgreSQL alike) and unsealed with its secret.
 */
export async function signRaw(srv: TestServer, headerJson: string, payloadJson: string): Promise<string> {
  const [row] = (await srv.store.listKeys()).filter((k) => k.retiredAt === null).sort((a, b) => b.createdAt - a.createdAt)
  if (!row) throw new Error('the store holds no active key')
  const jwk = JSON.parse(open(deriveKey(srv.secret, 'key-wrap'), row.sealedPrivateJwk, `key:${row.kid}`))
  const key = createPrivateKey({ key: jwk, format: 'jwk' })
  const input = `${enc(headerJson)}.${enc(payloadJson)}`
  const sig =
    row.alg === 'ES256'
      ? nodeSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : nodeSign(null, Buffer.from(input), key)
  return `${input}.${enc(sig)}`
}

/**
 * The access cookie's value for a (possibly forged) token: the token itself,
 * or with `BASTION_TEST_ACCESS_FORMAT=jwe` the token sealed under the
 * server's own cookie key for its current signing kid, so that a refusal is
 * about the token inside, not about the encryption around it.
 */
export async function cookieFor(srv: TestServer, token: string): Promise<string> {
  if (TEST_ACCESS_FORMAT !== 'jwe') return token
  const [row] = (await srv.store.listKeys()).filter((k) => k.retiredAt === null).sort((a, b) => b.createdAt - a.createdAt)
  if (!row) throw new Error('the store holds no active key')
  return new CompactEncrypt(new TextEncoder().encode(token))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: row.kid, cty: 'JWT' })
    .encrypt(cookieEncryptionKey(srv.secret, row.kid))
}

/** The signed token inside an access cookie the server set (the value itself unless the format is `jwe`). */
export async function tokenOfCookie(srv: TestServer, cookie: string): Promise<string> {
  if (TEST_ACCESS_FORMAT !== 'jwe') return cookie
  const { kid } = JSON.parse(Buffer.from(cookie.split('.')[0]!, 'base64url').toString()) as { kid: string }
  const { plaintext } = await compactDecrypt(cookie, cookieEncryptionKey(srv.secret, kid))
  return new TextDecoder().decode(plaintext)
}

/** The statuses the contract's error codes map to (a 5xx is never acceptable for a hostile request while the store is up). */
export const CONTRACT_4XX = new Set([400, 401, 403, 404, 413, 429])

/**
 * What every answer to a hostile request must satisfy: a 2xx, or a 4xx with
 * the contract's error body and no stack trace. Node's own HTTP parser may
 * answer a request it cannot parse with a bare 400/431 before Bastion sees it.
 */
export function expectContractAnswer(res: Res, label: string): void {
  expect(res.status, `${label}: ${res.text.slice(0, 200)}`).toBeLessThan(500)
  if (res.status >= 400) {
    expect(CONTRACT_4XX.has(res.status), `${label}: status ${res.status}`).toBe(true)
    expect(errorShapeProblems(res), label).toEqual([])
  }
}

/** No request may have reached the catch-all that turns an unexpected exception into a 503. */
export function expectNoUnexpectedErrors(logs: LogCollector): void {
  expect(logs.named('unexpected_error')).toEqual([])
}
