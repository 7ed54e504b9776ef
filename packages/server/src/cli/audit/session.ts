/**
 * The session's life: fixation at login (an attacker's pre-login cookies,
 * server-issued or chosen, must not become the victim's session), refresh
 * rotation and reuse detection (a rotated token replayed after the grace
 * must end the whole session), and logout (the old cookies replayed after it
 * are refused).
 *
 * Reuse beyond the grace needs a wait as long as the grace. A replay right
 * after the rotation is always tried (within the grace the server may hand
 * back the same successor, for racing tabs, but must not start a second
 * token family); the replay beyond the grace only when `--grace` is at most
 * MAX_REUSE_WAIT seconds, so that a default run stays fast. Against Bastion,
 * run a test deployment with BASTION_REFRESH_GRACE=1 and pass --grace 1.
 */
import { randomBytes } from 'node:crypto'
import { Browser, type AuditContext } from './context.ts'
import { roleOf, type Roles } from './cookies.ts'
import type { Credentials } from './csrf.ts'
import { accepted, refused, statusLine, type Exchange } from './http.ts'
import { deletes, parseSetCookie } from './jar.ts'

/** Seconds of grace the audit waits out by default to try reuse beyond it. */
export const MAX_REUSE_WAIT = 5

const authRole = (roles: Roles, name: string) => {
  const r = roleOf(roles, name)
  return r === 'access' || r === 'refresh'
}

/**
 * The attacker's browser gets its pre-login cookies (whatever GET csrf-path
 * sets, plus values of its own choosing for the cookies that authenticate);
 * the victim logs in with exactly those; then the attacker's browser, which
 * still holds them, must not be signed in. Returns the victim's browser: the
 * audit's second session.
 */
export async function probeFixation(ctx: AuditContext, roles: Roles, firstLogin: Exchange, credentials: Credentials, meWorks: boolean): Promise<Browser | undefined> {
  const f = ctx.findings
  const attacker = new Browser(ctx)
  await attacker.send('fixation-csrf', 'GET', ctx.options.csrf.path)
  const host = new URL(ctx.origin).hostname
  const planted: string[] = []
  for (const raw of firstLogin.setCookies) {
    const c = parseSetCookie(raw)
    if (!c || deletes(c, firstLogin.at) || !authRole(roles, c.name) || attacker.jar.get(c.name)) continue
    const value = randomBytes(Math.min(48, Math.max(12, Math.ceil((c.value.length * 3) / 4)))).toString('base64url')
    attacker.jar.set({ name: c.name, value, domain: c.domain ?? host, hostOnly: c.domain === undefined, path: c.path ?? '/', secure: c.secure, httpOnly: c.httpOnly })
    planted.push(c.name)
  }
  const before = new Map(attacker.jar.all().filter((c) => authRole(roles, c.name)).map((c) => [c.name, c.value]))
  const issued = [...before.keys()].filter((n) => !planted.includes(n))

  const victim = attacker.clone()
  const login = await victim.send('login-second', 'POST', ctx.options.paths.login, { json: credentials })
  if (!accepted(login)) {
    f.warn('session-fixation-inconclusive', `A second login answered ${statusLine(login)}: the fixation and cross-session checks could not run`, `POST ${ctx.options.paths.login} with the same credentials, from a second browser, was not accepted.`, 'Let the account sign in twice (two devices), or audit with an account that can.')
    return undefined
  }
  const kept = [...before].filter(([n, v]) => victim.jar.get(n)?.value === v).map(([n]) => n)
  const cookies = `pre-login cookies: ${[...before.keys()].join(', ') || 'none'}${planted.length ? ` (chosen by the audit: ${planted.join(', ')})` : ''}${issued.length ? ` (issued by the server before login: ${issued.join(', ')})` : ''}`
  if (!meWorks) {
    f.info('session-fixation-inconclusive', `Fixation not probed: GET ${ctx.options.paths.me} does not answer the signed-in user`, cookies)
    return victim
  }
  const probe = await attacker.send('fixation-probe', 'GET', ctx.options.paths.me)
  if (accepted(probe)) {
    f.fail('session-fixation-adopted', 'Session fixation: cookies set before login are signed in after it', `The victim signed in with the attacker's ${cookies}; the attacker's browser, still holding them, then got GET ${ctx.options.paths.me} ${statusLine(probe)}${kept.length ? ` (kept across login: ${kept.join(', ')})` : ''}.`, 'Start a brand-new session at login, with new ids and tokens in every authenticating cookie; never adopt an id the browser brought.')
  } else if (kept.length) {
    f.warn('session-id-not-renewed', `Cookies kept their pre-login value across login: ${kept.join(', ')}`, `The attacker's browser was not signed in (GET ${ctx.options.paths.me} ${statusLine(probe)}), but ${kept.join(', ')} did not change at login.`, 'Issue new values for every session cookie at login.')
  } else {
    f.pass('session-fixation', `Login starts a fresh session: the attacker's pre-login cookies stay signed out (${statusLine(probe)}), every authenticating cookie changed`)
  }
  return victim
}

export interface Rotation {
  /** A copy of the browser from before the rotation: it holds the old refresh token. */
  before: Browser
  /** When the rotation's answer arrived. */
  at: number
  name: string
  /** Whether replaying the old token at once was refused (no grace at all). */
  refusedAtOnce: boolean
}

export async function probeRefresh(ctx: AuditContext, a: Browser, roles: Roles): Promise<Rotation | undefined> {
  const f = ctx.findings
  const { refresh } = ctx.options.paths
  const name = roles.refresh.find((n) => a.jar.get(n))
  if (!name) {
    f.info('refresh-absent', 'Login set no refresh cookie: the rotation and reuse checks do not apply', 'Name it with --refresh-cookie if the audit did not recognise it.')
    return undefined
  }
  const before = a.clone()
  const old = a.jar.get(name)!.value
  const e = await a.send('refresh', 'POST', refresh)
  if (!accepted(e)) {
    f.warn('refresh-refused', `The refresh with a fresh session's cookies answered ${statusLine(e)}`, `POST ${refresh} with the ${name} cookie and the CSRF token was not accepted, so rotation could not be checked.`, 'Check --refresh (and the CSRF names): the audit sends what the browser client sends.')
    return undefined
  }
  const successor = a.jar.get(name)?.value
  if (successor === old || successor === undefined) {
    f.fail('refresh-not-rotated', `The refresh token does not rotate (${name} ${successor === undefined ? 'was dropped' : 'is the same after a refresh'})`, 'A stolen refresh token keeps working as long as the real one does, and a theft can never be detected (no old token is ever replayed).', 'Issue a new refresh token on every refresh and treat a replayed old one as theft: revoke the session (RFC 9700 §4.14.2).')
    return undefined
  }
  f.pass('refresh-rotation', `The refresh token rotates (${name} changed on refresh)`)
  const rotation: Rotation = { before, at: e.at, name, refusedAtOnce: false }
  if (ctx.options.grace === 0) return rotation

  // Right away: within any grace. The same successor is fine (tabs racing); a new, different one is a second family.
  const replay = before.clone()
  const r = await replay.send('refresh-replay', 'POST', refresh)
  const got = replay.jar.get(name)?.value
  if (refused(r)) {
    rotation.refusedAtOnce = true
    f.pass('refresh-replay', `Replaying the old refresh token at once was refused (${statusLine(r)}): no grace`, 'Strict, but two tabs refreshing at once will sign each other out.')
  } else if (accepted(r) && got === successor) {
    f.pass('refresh-replay-grace', `A replay within the grace got the same successor (${statusLine(r)}), not a second token family`)
  } else if (accepted(r) && got !== undefined && got !== old) {
    f.warn('refresh-replay-forked', 'A replay of the old refresh token right after rotation got a second, different successor', `POST ${refresh} with the old ${name} answered ${statusLine(r)} and a new token unlike the first successor: a thief racing the user gets a token family of their own.`, 'Within the grace, answer a replay with the very same successor (idempotent rotation); after it, revoke the session.')
  } else if (accepted(r)) {
    f.info('refresh-replay-accepted', `A replay of the old refresh token right after rotation was accepted (${statusLine(r)}) without a new refresh token`)
  } else {
    f.warn('refresh-replay-inconclusive', `A replay of the old refresh token answered ${statusLine(r)}`, 'Neither a success nor a refusal.', 'Answer a refused refresh with 401.')
  }
  return rotation
}

/** After the grace: the old token must be refused and the whole session (its successor, its access token) ended. */
export async function probeReuse(ctx: AuditContext, a: Browser, rotation: Rotation, meWorks: boolean): Promise<void> {
  const f = ctx.findings
  const { refresh, me } = ctx.options.paths
  const grace = ctx.options.grace
  let evidence: string
  if (rotation.refusedAtOnce) {
    evidence = 'the replay at once was refused'
  } else {
    if (grace > MAX_REUSE_WAIT) {
      f.info('refresh-reuse-untested', `Reuse beyond the grace not tried: it needs a ${grace + 1} s wait (--grace ${grace})`, `Run against a deployment with a grace of at most ${MAX_REUSE_WAIT} s and pass --grace N (Bastion: BASTION_REFRESH_GRACE=1, --grace 1) to check that an old token replayed after the grace revokes the session.`)
      return
    }
    await ctx.client.sleep(rotation.at + grace * 1000 + 500 - Date.now())
    const r = await rotation.before.clone().send('refresh-reuse', 'POST', refresh)
    const after = ((r.at - rotation.at) / 1000).toFixed(1)
    if (accepted(r)) {
      f.fail('refresh-reuse-undetected', `The rotated refresh token still refreshes ${after} s after rotation (grace ${grace} s)`, `POST ${refresh} with the old ${rotation.name} answered ${statusLine(r)}: a stolen token keeps working beside the user's, and the theft goes unnoticed.`, `Refuse a rotated refresh token after the grace, and revoke its whole session when one is presented (reuse detection). If the server's grace is longer than ${grace} s, pass it with --grace.`)
      return
    }
    evidence = `the old token, replayed ${after} s after rotation, was refused (${statusLine(r)})`
  }
  const s = await a.clone().send('refresh-after-reuse', 'POST', refresh)
  if (accepted(s)) {
    f.fail('refresh-reuse-undetected', 'A replayed refresh token did not end the session: its successor still refreshes', `${evidence[0]!.toUpperCase()}${evidence.slice(1)}, but the current ${rotation.name} then answered ${statusLine(s)}. When a thief and the user both hold the family, the replay is the only signal; ignoring it leaves the thief in.`, 'On a replayed (rotated) refresh token, revoke the session it belongs to: every token of the family, and its access tokens.')
    return
  }
  let access = ''
  if (meWorks) {
    const m = await a.clone().send('me-after-reuse', 'GET', me)
    if (accepted(m)) {
      f.warn('refresh-reuse-access-alive', 'After the reuse revoked the session, its access token still works', `GET ${me} with the session's access cookie answered ${statusLine(m)} after the revocation; it stays good until it expires.`, 'Check revocations on access tokens too (a revocation list), or keep their lifetime to a few minutes.')
    } else {
      access = `, and its access token (${statusLine(m)})`
    }
  }
  f.pass('refresh-reuse-detection', `Reuse is detected: ${evidence}; then the session's current refresh token is refused (${statusLine(s)})${access}`)
}

/** Logs the second session out, then replays its old cookies. */
export async function probeLogout(ctx: AuditContext, b: Browser, roles: Roles, meWorks: boolean): Promise<void> {
  const f = ctx.findings
  const { logout, me, refresh } = ctx.options.paths
  const snapshot = b.clone()
  const e = await b.send('logout', 'POST', logout)
  if (!accepted(e)) {
    f.warn('logout-refused', `Logout answered ${statusLine(e)}`, `POST ${logout} with the session's cookies and CSRF token was not accepted, so the logout checks could not run.`, 'Check --logout (and the CSRF names).')
    return
  }
  const left = b.jar.all().filter((c) => authRole(roles, c.name)).map((c) => c.name)
  if (left.length) {
    f.warn('logout-cookies-kept', `Logout left ${[...new Set(left)].join(', ')} in the browser`, 'The answer did not clear them (Max-Age=0 with the same name, path and domain), so the browser keeps sending them.', 'Clear every session cookie in the logout answer.')
  }
  if (meWorks) {
    const m = await snapshot.clone().send('logout-replay-access', 'GET', me)
    if (accepted(m)) {
      f.fail('logout-access-still-valid', 'After logout, the old access cookie still works', `GET ${me} with the cookies from before logout answered ${statusLine(m)}: a copy taken before logout (a shared computer, a stolen cookie) outlives it.`, 'Revoke the session at logout and check revocation when verifying access tokens (a revocation list), not only the signature and exp.')
    } else {
      f.pass('logout-access-revoked', `After logout, the old access cookie is refused (${statusLine(m)})`)
    }
  } else {
    f.info('logout-access-inconclusive', `Access after logout not probed: GET ${me} does not answer the signed-in user`)
  }
  const name = roles.refresh.find((n) => snapshot.jar.get(n))
  if (name) {
    const r = await snapshot.clone().send('logout-replay-refresh', 'POST', refresh)
    if (accepted(r)) {
      f.fail('logout-refresh-still-valid', `After logout, the old refresh cookie still refreshes`, `POST ${refresh} with the ${name} from before logout answered ${statusLine(r)}: logout ends nothing on the server.`, 'Revoke the session (its refresh token family) in the store at logout.')
    } else {
      f.pass('logout-refresh-revoked', `After logout, the old refresh cookie is refused (${statusLine(r)})`)
    }
  }
}
