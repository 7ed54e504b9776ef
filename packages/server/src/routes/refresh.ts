import type { RouteFamily } from '../context.ts'
import { maskToken } from '../csrf/token.ts'
import { BastionError } from '../errors.ts'
import { checkOrigin } from '../guards/origin.ts'
import { singleCookie } from '../guards/request-info.ts'
import { readJsonObject, stringField } from '../http/body.ts'
import { errorResponse, json } from '../http/respond.ts'
import { legacySuccessorOf, newTokenSalt, parseRefreshToken, refreshTokenFor, verifyRefreshMac } from '../sessions.ts'
import { CLIENT_ID, proofUrl } from '../services/sessions.ts'
import type { SessionKind } from '../store.ts'
import { headerOf } from '../http/header-of.ts'

/**
 * `POST /auth/refresh`: rotates the refresh token (browser cookie, or a
 * native client's `{"refreshToken"}`) and issues a new access token.
 *
 * A token rotated less than the grace ago yields the same successor (two tabs
 * racing stay signed in); a token rotated before that is a replay, and the
 * whole session is revoked. The rotation is one atomic store operation. A
 * token is its session's id, its generation and a MAC (sessions.ts): the MAC
 * is checked before the store is asked to change anything, so a token forged
 * for a real session id revokes nothing.
 */
export const refreshRoutes: RouteFamily = (ctx) => {
  const { config, store, access, auth, cookies, sessions, keys, binding } = ctx
  const { now } = config
  return [
    {
      method: 'POST',
      path: `${config.basePath}/refresh`,
      async handler(request, info) {
        const isJson = /^application\/json/i.test(headerOf(request, 'content-type') ?? '')
        const body = isJson ? await readJsonObject(request, config.maxBodyBytes) : {}
        const bearerMode = body.refreshToken !== undefined
        const refuse = (message: string) =>
          bearerMode ? errorResponse(new BastionError('unauthenticated', message)) : cookies.unauthenticatedClearing(message)
        let presented: string | undefined
        if (bearerMode) {
          auth.refuseBrowsers(request)
          presented = stringField(body, 'refreshToken', { max: 256 })
        } else {
          checkOrigin(request, info, config)
          presented = singleCookie(info, config.cookies.refresh.name)
          if (!presented) return cookies.unauthenticatedClearing('No refresh token; sign in again.')
        }
        const parsed = parseRefreshToken(presented)
        if (!parsed) return refuse('The refresh token is not valid.')
        const { sessionId } = parsed
        if (!bearerMode) auth.checkCsrf(request, info, [{ kind: 'session', sessionId }])
        const expectedKind: SessionKind = bearerMode ? 'bearer' : 'cookie'
        // A browser's token presented as a native one (or the reverse) is refused before anything changes.
        const known = await store.findSession(sessionId)
        if (!known || known.kind !== expectedKind) {
          return refuse(bearerMode ? 'The refresh token is not valid; sign in again.' : 'The session has ended; sign in again.')
        }
        if (parsed.format === 'generation' && (known.tokenSalt === null || !verifyRefreshMac(keys.refreshToken, parsed, known.tokenSalt))) {
          config.log({ level: 'warn', event: 'refresh_token_invalid', session: sessionId, ip: info.clientIp })
          return refuse('The refresh token is not valid.')
        }
        const t = now()
        const rotate = () =>
          store.rotateRefresh({
            sessionId,
            presented: parsed.format === 'generation' ? { generation: parsed.generation } : { legacyHash: parsed.hash },
            now: t,
            graceMs: config.refreshGrace * 1000,
            refreshExpiresAt: (s) => Math.min(s.expiresAt, t + config.refreshTtl * 1000),
            // Only a legacy session takes a new salt (the store keeps a salt once set).
            tokenSalt: known.tokenSalt ?? newTokenSalt(),
            seen: known,
          })
        // Checked before the rotation: inside the grace too, only a proof by the session's key yields the successor.
        const verdict = await binding.checkRefresh(request, proofUrl(request, info), known.dpopJkt)
        if (!verdict.ok) {
          if (verdict.revoke) {
            // Only a genuine refresh token shows this session's token left its device; one made up around a known
            // session id must not revoke it. Running the rotation tells which (its successor is never handed out), for
            // legacy tokens too, whose MAC is not checked above.
            const proved = await rotate()
            if (proved.kind !== 'invalid' && proved.session.id === sessionId) {
              await sessions.revoke(sessionId, 'refresh_without_proof')
              config.log({ level: 'warn', event: 'refresh_without_proof', reason: verdict.failure, session: sessionId, user: known.userId, ip: info.clientIp })
            }
          }
          // A skewed clock (no revocation) keeps its cookies to retry with the DPoP-Nonce; any other refusal ends the session here.
          if (bearerMode || verdict.failure === 'stale') return errorResponse(verdict.error)
          return cookies.unauthenticatedClearing(verdict.error.message)
        }
        const outcome = await rotate()
        if (outcome.kind === 'reused') {
          await sessions.broadcastRevoked([outcome.session.id])
          config.log({ level: 'warn', event: 'refresh_token_reuse', session: outcome.session.id, user: outcome.session.userId, ip: info.clientIp })
        }
        if (outcome.kind === 'reused' || outcome.kind === 'invalid' || outcome.session.id !== sessionId || outcome.session.kind !== expectedKind) {
          return refuse(bearerMode ? 'The refresh token is not valid; sign in again.' : 'The session has ended; sign in again.')
        }
        // The successor of any token is the current generation's: the one just made, or (grace) the one a racing tab got.
        // A legacy session still inside its last legacy grace has no generation yet: its legacy successor, as before.
        const { tokenSalt, generation } = outcome.session
        const successor =
          tokenSalt === null ? legacySuccessorOf(keys.refreshSuccessor, presented, sessionId) : refreshTokenFor(keys.refreshToken, sessionId, tokenSalt, generation)
        const user = outcome.owner
        if (!user) return cookies.unauthenticatedClearing('The account no longer exists.')
        const token = await access.sign({ userId: user.id, username: user.username, sessionId, clientId: CLIENT_ID[expectedKind] })
        config.log({ level: 'info', event: 'refresh', via: expectedKind, user: user.id, session: sessionId, ip: info.clientIp })
        if (bearerMode) {
          return json({ accessToken: token.token, refreshToken: successor, tokenType: 'Bearer', expiresIn: config.accessTtl })
        }
        const csrf = singleCookie(info, config.cookies.csrf.name)!
        const res = json({ session: sessions.view(outcome.session, token.expiresAt), csrfToken: maskToken(csrf) })
        cookies.setAccess(res.headers, token.cookie)
        cookies.setRefresh(res.headers, successor, outcome.session)
        // The CSRF cookie lives as long as the session's refresh token does, so it is renewed with it.
        cookies.setCsrf(res.headers, csrf, cookies.maxAge(outcome.session))
        return res
      },
    },
  ]
}
