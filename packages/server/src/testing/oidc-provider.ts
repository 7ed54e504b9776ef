/**
 * A real OpenID provider for the tests: panva's `oidc-provider` (the certified
 * implementation) on an ephemeral loopback port, with one confidential test
 * client and a scripted login. `login()` drives its interaction endpoints
 * over HTTP as a browser would (for Node tests); the same pages are plain
 * HTML forms that Chromium can fill in (for the e2e suite).
 *
 * It throws, never skips, if the provider cannot start.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import Provider from 'oidc-provider'

export interface TestAccount {
  email?: string
  email_verified?: boolean
  name?: string
  preferred_username?: string
}

export interface TestOidcProvider {
  issuer: string
  clientId: string
  clientSecret: string
  port: number
  /** Accounts by id (the `sub`); tests may add some before a login. */
  accounts: Map<string, TestAccount>
  /**
   * Follows the authorization URL as a browser would, signs in as
   * `accountId`, and answers the URL the provider redirects to (the client's
   * callback, with `code`, `state` and `iss`). No request is made to it.
   */
  login(authorizationUrl: string, accountId: string): Promise<URL>
  /** Like `login` but the user refuses: the callback URL carries `error=access_denied`. */
  deny(authorizationUrl: string): Promise<URL>
  /** (Re)builds the provider with this client's redirect URIs (known once the server under test listens), and checks it answers. */
  register(redirectUris: string[]): Promise<void>
  /** Stops answering (the provider is down) until `resume()`. */
  stop(): Promise<void>
  resume(): Promise<void>
  close(): Promise<void>
}

export interface StartOidcProviderOptions {
  /** Registered at once when given; else call `register()` before the first sign-in. */
  redirectUris?: string[]
  clientAuth?: 'client_secret_basic' | 'client_secret_post'
  accounts?: Record<string, TestAccount>
}

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`

/** A tiny cookie jar for one host (the provider's), enough for its interaction cookies. */
class Jar {
  private cookies = new Map<string, string>()
  absorb(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a) || /expires=thu, 01 jan 1970/i.test(a))
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }
}

export async function startOidcProvider(options: StartOidcProviderOptions): Promise<TestOidcProvider> {
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end()
  const sockets = new Set<Socket>()
  let down = false
  const server = http.createServer((req, res) => (down ? req.socket.destroy() : handler(req, res)))
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const issuer = `http://127.0.0.1:${port}`
  const clientId = 'bastion-test'
  const clientSecret = 'bastion-test-secret-0123456789abcdef'
  const accounts = new Map<string, TestAccount>(Object.entries(options.accounts ?? {}))

  async function register(redirectUris: string[]): Promise<void> {
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: redirectUris,
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: options.clientAuth ?? 'client_secret_basic',
        },
      ],
      async findAccount(_ctx: unknown, id: string) {
        const account = accounts.get(id)
        if (!account) return undefined
        return { accountId: id, claims: async () => ({ sub: id, ...account }) }
      },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
      // Claims in the ID token itself too (not only at userinfo), as most providers do.
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      pkce: { required: () => true },
      cookies: { keys: ['bastion-test-cookie-key-0123456789'] },
      // Authorization codes are single use (a replay is refused and revokes what it issued).
      ttl: { AuthorizationCode: 60, IdToken: 300, AccessToken: 300, Interaction: 600, Session: 600, Grant: 600 },
    })
    provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error', err))
    const callback = provider.callback()

    const readForm = (req: http.IncomingMessage): Promise<URLSearchParams> =>
      new Promise((resolve, reject) => {
        let body = ''
        req.setEncoding('utf8')
        req.on('data', (c: string) => {
          body += c
          if (body.length > 10_000) req.destroy()
        })
        req.on('end', () => resolve(new URLSearchParams(body)))
        req.on('error', reject)
      })

    handler = (req, res) => {
      const url = new URL(req.url ?? '/', issuer)
      const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/deny)?$/.exec(url.pathname)
      if (!m) return callback(req, res)
      void (async () => {
        try {
          const details = await provider.interactionDetails(req, res)
          if (!m[2] && req.method === 'GET') {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
            res.end(
              page(
                'Test provider sign-in',
                `<form method="post" action="/interaction/${details.uid}/login">
                   <label>Account <input name="login" autofocus></label>
                   <button type="submit" id="provider-login">Sign in</button>
                 </form>
                 <form method="post" action="/interaction/${details.uid}/deny"><button type="submit" id="provider-deny">Cancel</button></form>`,
              ),
            )
            return
          }
          if (req.method !== 'POST') return void res.writeHead(405).end()
          const form = await readForm(req)
          if (m[2] === '/deny') {
            await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user cancelled.' }, { mergeWithLastSubmission: false })
            return
          }
          const accountId = form.get('login') ?? ''
          if (!accounts.has(accountId)) {
            res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' }).end(page('Unknown account', ''))
            return
          }
          // First-party test client: consent is given with the login.
          const grant = new provider.Grant({ accountId, clientId: details.params.client_id! })
          grant.addOIDCScope(details.params.scope ?? 'openid')
          const grantId = await grant.save()
          await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false })
        } catch (e) {
          res.writeHead(400, { 'Content-Type': 'text/plain' }).end(String(e))
        }
      })()
    }

    // Fail loudly now if the provider does not answer its discovery document.
    const probe = await fetch(`${issuer}/.well-known/openid-configuration`)
    if (!probe.ok) throw new Error(`the test OpenID provider did not start: discovery answered ${probe.status}`)
  }
  if (options.redirectUris) await register(options.redirectUris)

  async function drive(authorizationUrl: string, step: (interactionPath: string, jar: Jar) => Promise<Response>): Promise<URL> {
    const jar = new Jar()
    const get = async (href: string) => {
      const res = await fetch(href, { redirect: 'manual', headers: { cookie: jar.header() } })
      jar.absorb(res)
      return res
    }
    let res = await get(authorizationUrl)
    let location = res.headers.get('location')
    if (!location || !location.includes('/interaction/')) throw new Error(`authorize answered ${res.status} ${location ?? (await res.text()).slice(0, 300)}`)
    res = await step(new URL(location, issuer).pathname, jar)
    jar.absorb(res)
    // Resume: the provider now redirects to the client's callback.
    for (let hops = 0; hops < 5; hops++) {
      location = res.headers.get('location')
      if (!location) throw new Error(`provider answered ${res.status} without a redirect: ${(await res.text()).slice(0, 300)}`)
      const next = new URL(location, issuer)
      if (next.origin !== issuer) return next
      res = await get(next.href)
    }
    throw new Error('too many redirects at the provider')
  }

  const post = (jar: Jar, path: string, form: Record<string, string>) =>
    fetch(`${issuer}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    })

  return {
    issuer,
    clientId,
    clientSecret,
    port,
    accounts,
    login: (url, accountId) => drive(url, (path, jar) => post(jar, `${path}/login`, { login: accountId })),
    deny: (url) => drive(url, (path, jar) => post(jar, `${path}/deny`, {})),
    register,
    async stop() {
      down = true
      for (const s of sockets) s.destroy()
    },
    async resume() {
      down = false
    },
    async close() {
      down = true
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
