/**
 * CSRF and Origin enforcement. Each probe changes one thing from the request
 * a same-origin page would send and must be refused: a login without the
 * CSRF header (login CSRF); the authenticated POST without the header, with
 * a forged token (cookie and header alike, as a sibling subdomain could toss
 * in), with another session's token; and, with a valid token, `Origin` of
 * another site, `Origin: null`, `Sec-Fetch-Site: cross-site` and
 * `same-site`. The POST is first sent once legitimately: a probe refused by
 * a server that refuses everything proves nothing.
 */
import { Browser, type AuditContext, type SendOptions } from './context.ts'
import { accepted, refused, statusLine, type Exchange } from './http.ts'

export interface Credentials {
  username: string
  password: string
}

interface Verdict {
  id: string
  /** What was sent, for the title: "a login without the CSRF header". */
  what: string
  danger: string
  fix: string
}

function judge(ctx: AuditContext, e: Exchange, v: Verdict): boolean {
  const f = ctx.findings
  if (accepted(e)) {
    f.fail(`${v.id}-accepted`, `Accepted ${v.what} (${statusLine(e)})`, v.danger, v.fix)
    return false
  }
  if (refused(e)) {
    f.pass(v.id, `Refused ${v.what} (${statusLine(e)})`)
    return true
  }
  f.warn(`${v.id}-inconclusive`, `${v.what[0]!.toUpperCase()}${v.what.slice(1)}: answered ${statusLine(e)}, neither a success nor a refusal`, `${e.method} ${e.url.pathname} answered ${e.status}${e.headers.get('location') ? ` → ${e.headers.get('location')}` : ''}.`, 'Answer a refused request with 403 (and a success with 2xx), so clients and this audit can tell them apart.')
  return false
}

/** Login CSRF: valid credentials, the CSRF cookie, but no CSRF header. `pre` is a pre-login browser (a copy). */
export async function probeLoginCsrf(ctx: AuditContext, pre: Browser, credentials: Credentials): Promise<void> {
  const e = await pre.send('login-no-csrf', 'POST', ctx.options.paths.login, { json: credentials, csrf: 'none' })
  judge(ctx, e, {
    id: 'csrf-login',
    what: `a login without the ${ctx.options.csrf.header} header`,
    danger: 'Login CSRF: another site signs the victim into the attacker\'s account (a form post), and what the victim then types (a card, a search, a document) lands in the attacker\'s account.',
    fix: `Require the CSRF token on login too, bound to a pre-session (GET ${ctx.options.csrf.path} first), and refuse a login without it.`,
  })
}

/** A made-up token of the same shape: the last characters changed. */
export function forge(token: string): string {
  const tail = Math.min(8, token.length)
  const swap = (c: string) => (/[0-9]/.test(c) ? String((Number(c) + 5) % 10) : /[a-z]/.test(c) ? (c === 'q' ? 'z' : 'q') : /[A-Z]/.test(c) ? (c === 'Q' ? 'Z' : 'Q') : 'x')
  const forged = token.slice(0, token.length - tail) + [...token.slice(token.length - tail)].map(swap).join('')
  return forged === token || forged.length === 0 ? token + 'x' : forged
}

/**
 * The state-changing probes. With `--post`: on it, from copies of the signed-in
 * browser `a` (`other` is the second session, for its token). Without: the
 * Origin and Fetch Metadata probes go to the login, from copies of the
 * pre-login browser `pre`. Counts in `ctx.legitimatePosts` the state changes
 * it made on purpose.
 */
export async function probeStateChanging(ctx: AuditContext, a: Browser, pre: Browser | undefined, other: Browser | undefined, credentials: Credentials): Promise<void> {
  const f = ctx.findings
  const { post, login } = ctx.options.paths
  const foreign = ctx.options.originForeign

  let send: (label: string, o: SendOptions, from?: Browser) => Promise<Exchange>
  let target: string
  if (post) {
    target = `the authenticated POST ${post}`
    const baseline = await a.clone().send('post-baseline', 'POST', post, { body: ctx.options.postBody })
    if (accepted(baseline)) ctx.legitimatePosts++
    else {
      f.warn('post-baseline-refused', `The legitimate POST ${post} (cookies, CSRF token, own Origin) answered ${statusLine(baseline)}`, `Every CSRF and Origin probe on it would be refused for this reason alone, which proves nothing; they were not sent. Body sent: ${ctx.options.postBody.slice(0, 200)}`, 'Give --post a state-changing route that the signed-in user may call, and --post-body a body it accepts.')
      return
    }
    // Without any cookie it must be refused, or it is not cookie-authenticated and CSRF does not apply.
    const anonymous = await new Browser(ctx).send('post-anonymous', 'POST', post, { body: ctx.options.postBody })
    if (accepted(anonymous)) {
      ctx.legitimatePosts++
      f.warn('post-unauthenticated', `POST ${post} succeeds without any cookie (${statusLine(anonymous)})`, 'It is not authenticated by the session cookies, so CSRF probes on it prove nothing; they were not sent.', 'Give --post a state-changing route that needs the signed-in session.')
      return
    }
    f.pass('post-baseline', `The legitimate POST ${post} succeeded (${statusLine(baseline)}; the audit sent it once, on purpose) and without cookies is refused (${statusLine(anonymous)})`)
    send = (label, o, from = a) => from.clone().send(label, 'POST', post, { body: ctx.options.postBody, ...o })

    const header = ctx.options.csrf.header
    const token = a.csrfToken()
    const hasCookie = a.jar.get(ctx.options.csrf.cookie) !== undefined
    judge(ctx, await send('csrf-missing', { csrf: 'none' }), {
      id: 'csrf-missing',
      what: `${target} without the ${header} header`,
      danger: 'Another page can make the signed-in browser send this request with its cookies: a form post from a sibling subdomain passes SameSite=Lax, and cookies without SameSite go along from any site in Firefox and Safari.',
      fix: `Require a valid ${header} on every state-changing request authenticated by a cookie, and answer 403 without it.`,
    })
    if (token === undefined) {
      f.info('csrf-forged-skipped', 'No CSRF token to forge or swap (none was handed out): the forged and cross-session probes were not sent')
    } else {
      const fake = forge(token)
      const forged = a.clone()
      if (hasCookie) forged.setCsrfCookie(fake)
      judge(ctx, await send('csrf-forged', { csrf: { value: fake } }, forged), {
        id: 'csrf-forged',
        what: `${target} with a forged CSRF token${hasCookie ? ' (header and cookie both set to it)' : ''}`,
        danger: hasCookie
          ? 'The server checks only that the header equals the cookie. A sibling subdomain (or a man in the middle on http://) can toss in a cookie of that name and send the same value: naive double submit does not hold.'
          : 'The server does not check that the token is one it issued.',
        fix: 'Sign the token with a server secret and bind it to the session (OWASP signed double-submit: an HMAC over the session id), and verify the MAC on every request.',
      })
      const theirs = other?.csrfToken()
      if (other === undefined || theirs === undefined) {
        f.info('csrf-cross-session-skipped', 'No second session (or it got no CSRF token): the cross-session probe was not sent')
      } else {
        const swapped = a.clone()
        if (hasCookie) swapped.setCsrfCookie(other.jar.get(ctx.options.csrf.cookie)?.value ?? theirs)
        judge(ctx, await send('csrf-cross-session', { csrf: { value: theirs } }, swapped), {
          id: 'csrf-cross-session',
          what: `${target} with the CSRF token of another session${theirs === token ? ' (the server handed both sessions the same token)' : ''}`,
          danger: 'An attacker signs in with an account of their own, takes that session\'s token and uses it against the victim\'s session: the token proves nothing about this session.',
          fix: 'Bind each CSRF token to its session (an HMAC over the session id) and refuse one minted for another session.',
        })
      }
    }
  } else {
    f.info('csrf-post-skipped', 'No --post given: the CSRF probes on a state-changing API request were not sent; the Origin probes go to the login', 'Pass --post PATH (and --post-body JSON) naming a state-changing request the user may make, e.g. --post /api/transfer.')
    if (!pre) return
    target = `a login (POST ${login})`
    send = (label, o) => pre.clone().send(label, 'POST', login, { json: credentials, ...o })
  }

  judge(ctx, await send('origin-foreign', { origin: foreign, site: 'omit' }), {
    id: 'origin-foreign',
    what: `${target} with Origin: ${foreign} (and a valid CSRF token)`,
    danger: 'The server does not check Origin: the CSRF token is its only defence, and one leak of it (a log, a referrer, a reflected page) makes every forgery work.',
    fix: 'Refuse a state-changing request whose Origin is present and neither your own origin nor an allow-listed SPA origin.',
  })
  judge(ctx, await send('origin-null', { origin: 'null', site: 'omit' }), {
    id: 'origin-null',
    what: `${target} with Origin: null`,
    danger: 'Origin: null comes from sandboxed iframes, data: URLs and some redirects: any site can produce it.',
    fix: 'Never accept Origin: null on a state-changing request (and never allow-list "null").',
  })
  judge(ctx, await send('fetch-site-cross', { origin: 'omit', site: 'cross-site' }), {
    id: 'fetch-site-cross',
    what: `${target} with Sec-Fetch-Site: cross-site`,
    danger: 'The browser says another site made this request; a server that ignores Fetch Metadata leans on the CSRF token alone.',
    fix: 'Refuse state-changing requests with Sec-Fetch-Site: cross-site (unless the Origin is an allow-listed SPA origin).',
  })
  judge(ctx, await send('fetch-site-same', { origin: 'omit', site: 'same-site' }), {
    id: 'fetch-site-same',
    what: `${target} with Sec-Fetch-Site: same-site`,
    danger: 'A sibling subdomain (any XSS there, a forgotten staging host, a subdomain takeover) is another site for security: SameSite=Lax cookies still go with its requests.',
    fix: 'Refuse same-site state-changing requests too, unless the Origin is an allow-listed SPA origin.',
  })
  return
}
