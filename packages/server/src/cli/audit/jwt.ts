/**
 * The access JWT's header and claims (RFC 8725, RFC 9068), read from the
 * access cookie without verifying it: `alg` (not `none`, not a shared HMAC
 * secret, and that secret not one of the well-known ones), `typ: at+jwt`,
 * `kid` (and that the published JWKS knows it), `exp` present and a lifetime
 * of at most 15 minutes, `iss`/`aud`/`sub`. And the JWKS itself: public keys
 * only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose'
import type { AuditContext } from './context.ts'
import { human } from './cookies.ts'
import { accepted, type Exchange } from './http.ts'

const MAX_LIFETIME = 15 * 60

/** Secrets from tutorials, README examples and framework defaults: an HS* token signed with one of these is forgeable by anyone. */
const WELL_KNOWN_SECRETS = [
  'secret', 'Secret', 'SECRET', 'secretkey', 'secret-key', 'secret_key', 'mysecret', 'my-secret', 'my_secret', 'supersecret', 'super-secret',
  'your-256-bit-secret', 'your-secret-key', 'your_jwt_secret', 'jwt-secret', 'jwt_secret', 'jwtsecret', 'JWT_SECRET', 'changeme', 'change-me',
  'changeit', 'password', 'secret123', '123456', 'test', 'dev', 'development', 'default', 'key', 'shhhhh', 'keyboard cat', 's3cr3t', 'token',
]

export interface Jwks {
  keys: Record<string, unknown>[]
}

function crackHmac(token: string, alg: string): string | undefined {
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg]
  if (!hash) return undefined
  const [h, p, s] = token.split('.')
  if (!h || !p || s === undefined) return undefined
  const given = Buffer.from(s, 'base64url')
  for (const secret of WELL_KNOWN_SECRETS) {
    const mac = createHmac(hash, secret).update(`${h}.${p}`).digest()
    if (mac.length === given.length && timingSafeEqual(mac, given)) return secret
  }
  return undefined
}

/** GET the JWKS: private or symmetric key material published is a failure; a missing JWKS is only context. */
export async function fetchJwks(ctx: AuditContext, get: () => Promise<Exchange>): Promise<Jwks | undefined> {
  const f = ctx.findings
  const e = await get()
  const keys = (e.json as { keys?: unknown } | undefined)?.keys
  if (!accepted(e) || !Array.isArray(keys)) {
    f.info('jwks-absent', `No JWKS at ${ctx.options.paths.jwks} (${e.status})`, 'Other services cannot verify the access token by themselves; fine when only this server reads it.')
    return undefined
  }
  const jwks: Jwks = { keys: keys.filter((k): k is Record<string, unknown> => !!k && typeof k === 'object') }
  const secret = jwks.keys.filter((k) => ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((m) => m in k) || k.kty === 'oct')
  if (secret.length) {
    f.fail('jwks-private-key', `The JWKS publishes secret key material (${secret.map((k) => String(k.kid ?? k.kty)).join(', ')})`, 'A private ("d") or symmetric ("k", kty "oct") key in a public JWKS lets anyone sign access tokens.', 'Publish only the public part of each signing key (kty, crv, x, y / n, e, kid, alg, use); rotate every key that was published.')
  } else {
    f.pass('jwks', `The JWKS publishes ${jwks.keys.length} public key${jwks.keys.length === 1 ? '' : 's'} (${jwks.keys.map((k) => `${String(k.kid ?? '?')} ${String(k.alg ?? k.kty)}`).join(', ')})`)
  }
  return jwks
}

/** Checks one access token, from the cookie `cookie`. */
export function checkJwt(ctx: AuditContext, cookie: string, token: string, jwks: Jwks | undefined): void {
  const f = ctx.findings
  if (token.split('.').length === 5) {
    f.pass('jwt-encrypted', `${cookie} holds an encrypted token (JWE): its claims are not readable by the browser or its extensions`)
    return
  }
  let header: ProtectedHeaderParameters
  let claims: JWTPayload
  try {
    header = decodeProtectedHeader(token)
    claims = decodeJwt(token)
  } catch {
    f.info('jwt-none', `${cookie} is not a JWT (an opaque session id): JWT checks do not apply`)
    return
  }
  const alg = String(header.alg ?? '')
  const asymmetricPublished = jwks?.keys.some((k) => k.kty === 'RSA' || k.kty === 'EC' || k.kty === 'OKP') ?? false

  if (alg.toLowerCase() === 'none' || alg === '') {
    f.fail('jwt-alg-none', `${cookie}: alg "${alg || '(missing)'}", an unsigned token`, 'Anyone can write such a token; a verifier that accepts it accepts any identity.', 'Sign access tokens with EdDSA (Ed25519) or ES256 and pin the accepted algorithms in the verifier.')
  } else if (/^HS/i.test(alg)) {
    const cracked = crackHmac(token, alg.toUpperCase())
    if (cracked !== undefined) {
      f.fail('jwt-weak-secret', `${cookie}: signed with the well-known secret "${cracked}"`, `The ${alg} signature verifies with "${cracked}": anyone can mint a token for any user.`, 'Rotate the signing secret now (and invalidate every token), or better move to an asymmetric algorithm (EdDSA, ES256) with keys from a keyring.')
    }
    f.fail('jwt-alg-symmetric', `${cookie}: alg ${alg}, a shared secret`, `Whoever can verify the token can also mint one, so no other service can check it safely, and a weak secret can be guessed offline from any captured token (RFC 8725 §3.5).${asymmetricPublished ? ' A JWKS with public keys is also published: a verifier confused about the algorithm takes the public key as the HMAC secret (RFC 8725 §2.1).' : ''}`, 'Sign with an asymmetric algorithm (EdDSA or ES256), publish the public keys in a JWKS with a kid each, and pin the algorithm in every verifier.')
  } else {
    f.pass('jwt-alg', `${cookie}: alg ${alg} (asymmetric)`)
  }

  const typ = String(header.typ ?? '')
  if (/^(application\/)?at\+jwt$/i.test(typ)) f.pass('jwt-typ', `${cookie}: typ ${typ}`)
  else f.warn('jwt-typ-missing', `${cookie}: typ ${typ ? `"${typ}"` : 'missing'}, not at+jwt`, 'Without explicit typing a verifier cannot tell an access token from an ID token or another JWT signed by the same keys (RFC 8725 §3.11, RFC 9068 §2.1).', 'Set typ: "at+jwt" in the header and require it when verifying.')

  if (claims.exp === undefined) {
    f.fail('jwt-exp-missing', `${cookie}: no exp claim`, 'The token is valid forever: a stolen copy never stops working, logout or not.', `Set exp, at most ${MAX_LIFETIME / 60} minutes after iat, and renew through the refresh token.`)
  } else {
    const from = claims.iat ?? Math.floor(Date.now() / 1000)
    const life = claims.exp - from
    if (life > MAX_LIFETIME) {
      f.fail('jwt-lifetime-long', `${cookie}: lives ${human(life)}`, `exp − ${claims.iat !== undefined ? 'iat' : 'now'} = ${life} s. A stateless access token cannot be recalled before it expires; a stolen one works for its whole life.`, `Issue access tokens for at most ${MAX_LIFETIME / 60} minutes (Bastion: 5) and keep the session alive with a rotating refresh token.`)
    } else {
      f.pass('jwt-lifetime', `${cookie}: exp present, lifetime ${human(life) || `${life} s`}`)
    }
  }

  if (header.kid === undefined) {
    f.warn('jwt-kid-missing', `${cookie}: no kid in the header`, 'Without a key id a verifier cannot pick the key, so keys cannot be rotated without breaking every live token.', 'Put the signing key\'s kid in every token header and publish it in the JWKS.')
  } else if (jwks && !jwks.keys.some((k) => k.kid === header.kid)) {
    f.warn('jwt-kid-unknown', `${cookie}: kid "${header.kid}" is not in the published JWKS`, 'Other services verifying through the JWKS refuse this token.', 'Publish every signing key (the new one before it signs) in the JWKS.')
  } else {
    f.pass('jwt-kid', `${cookie}: kid ${header.kid}${jwks ? ' (published in the JWKS)' : ''}`)
  }

  const missing = (['iss', 'aud', 'sub'] as const).filter((c) => claims[c] === undefined)
  if (missing.length) {
    f.warn('jwt-claims-missing', `${cookie}: no ${missing.join(', ')} claim`, 'Without iss and aud a token minted for another service by the same issuer (or another issuer using the same keys) is accepted here (RFC 8725 §3.8–3.9, RFC 9068 §2.2).', 'Set iss, aud and sub, and check iss and aud when verifying.')
  } else {
    f.pass('jwt-claims', `${cookie}: iss ${String(claims.iss)}, aud ${Array.isArray(claims.aud) ? claims.aud.join(' ') : String(claims.aud)}, sub present`)
  }
}
