/**
 * Sites as browsers compare them for cookies: the scheme plus the registrable
 * domain (eTLD+1), the unit SameSite and third-party-cookie blocking work on.
 */
import { isLoopbackHost } from '../../config.ts'

/**
 * A deliberately small public-suffix list: the multi-label suffixes people
 * deploy under most often. It is not the Public Suffix List (that is ~10,000
 * rules and changes monthly); any other host falls back to "the last label is
 * the suffix", which is right for `.com`, `.dev`, `.io`, … and errs towards
 * calling two hosts the same site only for rarer multi-label suffixes.
 */
export const MULTI_LABEL_SUFFIXES: ReadonlySet<string> = new Set([
  'co.uk', 'org.uk', 'ac.uk', 'gov.uk', 'me.uk', 'ltd.uk', 'plc.uk',
  'com.au', 'net.au', 'org.au', 'edu.au', 'gov.au',
  'co.nz', 'org.nz', 'co.jp', 'ne.jp', 'or.jp', 'co.kr', 'co.in', 'co.za', 'co.il',
  'com.br', 'com.cn', 'com.mx', 'com.tr', 'com.sg', 'com.hk', 'com.tw', 'com.ar',
  'github.io', 'gitlab.io', 'pages.dev', 'workers.dev', 'vercel.app', 'netlify.app', 'web.app',
  'firebaseapp.com', 'herokuapp.com', 'azurewebsites.net', 'cloudfront.net', 'appspot.com',
  'onrender.com', 'fly.dev', 'blogspot.com', 'amplifyapp.com', 'up.railway.app', 'ngrok.io', 'ngrok-free.app',
])

/** `[::1]`, `127.0.0.1`, `10.0.0.5`: a host that is an address, which is its own site. */
export function isIpHost(hostname: string): boolean {
  return hostname.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname)
}

/**
 * Hosts whose `http://` origin browsers treat as potentially trustworthy, where
 * Chromium and Firefox accept `Secure` cookies: localhost, `*.localhost`,
 * 127.0.0.0/8 and `[::1]`.
 */
export function isLoopback(hostname: string): boolean {
  return isLoopbackHost(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname)
}

/** Is `domain` itself a public suffix (a cookie Domain a browser refuses)? */
export function isPublicSuffix(domain: string): boolean {
  const d = domain.toLowerCase().replace(/\.$/, '')
  return !d.includes('.') || MULTI_LABEL_SUFFIXES.has(d)
}

/** The registrable domain (eTLD+1) of a host; an address, or a single label such as `localhost`, is its own. */
export function registrableDomain(hostname: string): string {
  const host = hostname.toLowerCase().replace(/\.$/, '')
  if (isIpHost(host)) return host
  const labels = host.split('.')
  if (labels.length <= 1) return host
  const lastTwo = labels.slice(-2).join('.')
  const lastThree = labels.slice(-3).join('.')
  if (MULTI_LABEL_SUFFIXES.has(lastThree)) return labels.slice(-4).join('.')
  if (MULTI_LABEL_SUFFIXES.has(lastTwo)) return labels.length >= 3 ? lastThree : host
  return lastTwo
}

/** The schemeful site of an origin, e.g. `https://example.co.uk` for `https://app.example.co.uk:8443`. */
export function siteOf(url: URL): string {
  return `${url.protocol}//${registrableDomain(url.hostname)}`
}

/** Two loopback hosts that browsers nevertheless keep apart (`localhost` and `127.0.0.1`, say). */
export function differentLoopbackSites(a: URL, b: URL): boolean {
  return isLoopback(a.hostname) && isLoopback(b.hostname) && registrableDomain(a.hostname) !== registrableDomain(b.hostname)
}
