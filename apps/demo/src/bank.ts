import { readFile } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import type { Bastion, Identity, RequestContext } from '@bastion/server'
import { BastionError, json, readJsonObject } from '@bastion/server'
import { LedgerError, type Ledger } from './ledger.ts'
import { refusalOf, type SecurityEvents } from './events.ts'

export interface BankOptions {
  bastion: Bastion
  ledger: Ledger
  events: SecurityEvents
  /** Folder of the SPA's static files. */
  publicDir: string
  /** The client bundle served as /assets/bastion-client.js. */
  clientBundle: string
  /** Where the demo's attacker page runs, for the bank page's link to it (known only once it listens). */
  attackerOrigin?: () => string | undefined
}

const MAX_AMOUNT = 1_000_000_000_00

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
}

/**
 * The SPA may only run its own scripts: no inline script, no inline event
 * handler, no eval, so an injected one does not execute. No site may frame it
 * (`frame-ancestors 'none'`, and `X-Frame-Options` for old browsers): the
 * transfer form cannot be clickjacked. Its files cannot be embedded by other
 * origins (CORP) and its URLs leak to no one (Referrer-Policy).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self'",
    "script-src-attr 'none'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join('; '),
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
}

/**
 * HSTS, only when the bank is reached over TLS (its own, or a proxy's named by
 * `publicOrigin`); browsers ignore it on plain HTTP anyway. A loopback host
 * gets five minutes rather than a year, so a developer's `localhost` is not
 * pinned to HTTPS after one `BASTION_HTTPS=1` run.
 */
export function transportHeaders(requestUrl: URL, publicOrigin: string | undefined): Record<string, string> {
  const seen = publicOrigin ? new URL(publicOrigin) : requestUrl
  if (seen.protocol !== 'https:') return {}
  const host = seen.hostname
  const loopback = host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]'
  return { 'Strict-Transport-Security': loopback ? 'max-age=300' : 'max-age=31536000; includeSubDomains' }
}

// API answers through Bastion's `json`: no-store and nosniff (`bastion audit` warned that an old browser could sniff
// them, or a page include one as a script), and a body the Node adapter writes without building an undici Response.

const error = (code: string, message: string, status: number) => json({ error: { code, message } }, status)

async function readTransfer(request: Request): Promise<{ to: string; amount: number }> {
  // Counted as it arrives: a signed-in user cannot make the server buffer a huge body.
  const { to, amount } = await readJsonObject(request, 4096)
  if (typeof to !== 'string' || to.length === 0 || to.length > 64) throw new BastionError('bad_request', '"to" must be a username.')
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount <= 0 || amount > MAX_AMOUNT) {
    throw new BastionError('bad_request', '"amount" must be a positive whole number of cents.')
  }
  return { to: to.normalize('NFKC').trim().toLowerCase(), amount }
}

/** The demo bank's routes (`/api/*`) and its SPA, as one web-standard handler. */
export function createBankApp(options: BankOptions): (request: Request, ctx: RequestContext) => Promise<Response> {
  const { bastion, ledger, events } = options
  const publicDir = normalize(options.publicDir)

  type ApiRoute = (request: Request, identity: Identity) => Promise<Response> | Response
  const api: Record<string, ApiRoute> = {
    'GET /api/me': (_r, id) => json({ user: { id: id.userId, username: id.username } }),
    'GET /api/balance': async (_r, id) => {
      let balance = await ledger.balanceOf(id.userId)
      if (balance === null) {
        // A customer who arrived by a provider sign-in (or registered) gets an empty account on first look.
        await ledger.ensureAccount(id.userId, id.username, 0)
        balance = await ledger.balanceOf(id.userId)
      }
      return balance === null ? error('not_found', 'You have no account.', 404) : json({ balance })
    },
    'GET /api/transfers': async (_r, id) => json({ transfers: await ledger.history(id.userId) }),
    'POST /api/transfer': async (request, id) => {
      const { to, amount } = await readTransfer(request)
      try {
        const transfer = await ledger.transfer(id.userId, to, amount)
        return json({ transfer, balance: await ledger.balanceOf(id.userId) }, 201)
      } catch (e) {
        if (e instanceof LedgerError) return error(e.code, e.message, e.code === 'not_found' ? 404 : 400)
        throw e
      }
    },
  }

  const recordRefusal = async (request: Request, response: Response) =>
    events.record(await refusalOf(request, response, bastion.config.cookies.access.name))

  async function serveStatic(url: URL): Promise<Response> {
    const path = url.pathname
    const transport = transportHeaders(url, bastion.config.publicOrigin)
    if (path === '/assets/bastion-client.js') return file(options.clientBundle, '.js', transport)
    const rel = path === '/' ? 'index.html' : path.slice(1)
    const full = normalize(join(publicDir, rel))
    if (!full.startsWith(publicDir + sep)) return error('not_found', 'Not found.', 404)
    const res = await file(full, extname(full), transport)
    // Client-side routes fall back to the SPA.
    return res.status === 404 && !extname(full) ? file(join(publicDir, 'index.html'), '.html', transport) : res
  }

  async function file(path: string, ext: string, transport: Record<string, string>): Promise<Response> {
    try {
      const body = await readFile(path)
      return new Response(body, {
        headers: { ...PAGE_HEADERS, ...transport, 'Content-Type': CONTENT_TYPES[ext] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' },
      })
    } catch {
      return error('not_found', 'Not found.', 404)
    }
  }

  return async (request, ctx) => {
    const url = new URL(request.url)
    const key = `${request.method} ${url.pathname}`
    if (key === 'GET /api/public' || key === 'HEAD /api/public') {
      const attackerOrigin = options.attackerOrigin?.()
      return json({ hello: 'world', authenticated: false, ...(attackerOrigin ? { attackerOrigin } : {}) })
    }
    if (url.pathname.startsWith('/api/')) {
      const route = api[key]
      if (!route) {
        const res = error('not_found', `No route ${request.method} ${url.pathname.slice(0, 100)} (money moves only by POST with JSON).`, 404)
        await recordRefusal(request, res)
        return res
      }
      const guarded = await bastion.guard(request, ctx)
      if (!guarded.ok) {
        await recordRefusal(request, guarded.response)
        return guarded.response
      }
      try {
        const res = await route(request, guarded.identity)
        if (res.status >= 400) await recordRefusal(request, res)
        return res
      } catch (e) {
        if (e instanceof BastionError) {
          const res = error(e.code, e.message, e.status)
          await recordRefusal(request, res)
          return res
        }
        return error('unavailable', 'The bank could not complete the request.', 503)
      }
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return error('not_found', 'Not found.', 404)
    return serveStatic(url)
  }
}
