// Bastion Bank, the demo SPA. Plain ES module, no build step, no framework.
// Safe DOM only: everything is built with createElement / textContent.

const $ = (id) => document.getElementById(id)

// ---------------------------------------------------------------- formatting

/** Integer cents -> "$1,000.00" without floating-point surprises. */
function formatMoney(cents) {
  if (typeof cents !== 'number' || !Number.isFinite(cents)) return '—'
  const sign = cents < 0 ? '-' : ''
  const abs = Math.abs(Math.trunc(cents))
  const dollars = Math.floor(abs / 100).toLocaleString('en-US')
  return `${sign}$${dollars}.${String(abs % 100).padStart(2, '0')}`
}

/** "50", "50.5", "$1,234.56" -> integer cents, or null when not a valid amount. */
function parseDollars(text) {
  const cleaned = String(text).trim().replace(/^\$/, '').replace(/,/g, '')
  const match = /^(\d+)(?:\.(\d{0,2}))?$/.exec(cleaned)
  if (!match) return null
  const cents = Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'))
  return Number.isSafeInteger(cents) ? cents : null
}

/** ISO string, epoch seconds or epoch milliseconds -> Date (or null). */
function toDate(value) {
  if (value === null || value === undefined || value === '') return null
  if (typeof value === 'number') return new Date(value < 1e12 ? value * 1000 : value)
  if (/^\d+$/.test(String(value))) return toDate(Number(value))
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? null : date
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

function formatDate(value) {
  const date = toDate(value)
  return date ? dateTimeFormat.format(date) : '—'
}

function formatRelative(value) {
  const date = toDate(value)
  if (!date) return '—'
  const seconds = Math.round((date.getTime() - Date.now()) / 1000)
  const units = [
    ['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400],
    ['hour', 3600], ['minute', 60],
  ]
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relativeFormat.format(Math.round(seconds / size), unit)
  }
  return Math.abs(seconds) < 10 ? 'just now' : relativeFormat.format(seconds, 'second')
}

/** A short, human name for a user agent string. */
function describeDevice(userAgent) {
  const ua = String(userAgent || '')
  if (!ua) return 'Unknown device'
  const browser =
    /HeadlessChrome/.test(ua) ? 'Headless Chrome'
      : /Edg\//.test(ua) ? 'Edge'
        : /OPR\//.test(ua) ? 'Opera'
          : /Firefox\//.test(ua) ? 'Firefox'
            : /Chrome\//.test(ua) ? 'Chrome'
              : /Safari\//.test(ua) ? 'Safari'
                : /^curl\//.test(ua) ? 'curl'
                  : /node|undici/i.test(ua) ? 'Node.js'
                    : null
  const os =
    /iPhone|iPad|iPod/.test(ua) ? 'iOS'
      : /Android/.test(ua) ? 'Android'
        : /Windows/.test(ua) ? 'Windows'
          : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
            : /CrOS/.test(ua) ? 'ChromeOS'
              : /Linux/.test(ua) ? 'Linux'
                : null
  if (browser && os) return `${browser} on ${os}`
  return browser || os || (ua.length > 48 ? `${ua.slice(0, 45)}…` : ua)
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue
    if (key === 'className') node.className = value
    else if (key === 'text') node.textContent = value
    else if (key === 'dataset') Object.assign(node.dataset, value)
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    node.append(typeof child === 'string' ? document.createTextNode(child) : child)
  }
  return node
}

const SVG = 'http://www.w3.org/2000/svg'

/** A small phone or laptop outline (SVG, so no emoji font is needed). */
function deviceIcon(mobile) {
  const wrap = el('span', { className: 'device-icon', 'aria-hidden': 'true' })
  const svg = document.createElementNS(SVG, 'svg')
  svg.setAttribute('viewBox', '0 0 24 24')
  const path = document.createElementNS(SVG, 'path')
  path.setAttribute('d', mobile
    ? 'M8 2.5h8a1.5 1.5 0 0 1 1.5 1.5v16a1.5 1.5 0 0 1-1.5 1.5H8A1.5 1.5 0 0 1 6.5 20V4A1.5 1.5 0 0 1 8 2.5ZM11 18.5h2'
    : 'M5 5.5h14a1 1 0 0 1 1 1v9H4v-9a1 1 0 0 1 1-1ZM2 18.5h20')
  svg.append(path)
  wrap.append(svg)
  return wrap
}

// ---------------------------------------------------------------- views

let view = 'loading'
let currentUser = null
let signingOut = false

function show(name) {
  view = name
  for (const id of ['loading', 'signin', 'bank']) $(`view-${id}`).hidden = id !== name
  $('account-bar').hidden = name !== 'bank'
  document.title = name === 'bank' ? 'Bastion Bank · your account' : 'Bastion Bank · sign in'
}

function banner(message) {
  const node = $('banner')
  node.textContent = message || ''
  node.hidden = !message
}

/** What `auth.getState().deviceBinding` means, in words the bank's customer can read. */
const DEVICE_BINDING = {
  bound: 'bound to this browser (a copied refresh cookie is useless elsewhere)',
  unsupported: 'not bound: this browser blocks IndexedDB or Web Crypto',
  unbound: 'not bound',
}

function setText(id, text) {
  $(id).textContent = text
}

function clearBankData() {
  setText('whoami', '')
  setText('greeting-name', '')
  const balance = $('balance')
  balance.textContent = '—'
  balance.dataset.cents = ''
  $('transfers').replaceChildren()
  $('sessions').replaceChildren()
  $('transfers-empty').hidden = true
  $('sessions-empty').hidden = true
  $('sessions-error').hidden = true
  const result = $('transfer-result')
  result.hidden = true
  result.textContent = ''
  $('transfer-form').reset()
  setText('server-user', '—')
  setText('server-session-id', '—')
  setText('server-session-expires', '—')
}

function showSignIn(notice) {
  currentUser = null
  clearBankData()
  show('signin')
  const noticeEl = $('signin-notice')
  noticeEl.textContent = notice || ''
  noticeEl.hidden = !notice
  if (location.hash !== '#/signin') history.replaceState(null, '', '#/signin')
  renderJsVisible()
  $('username').focus()
}

/** Leaves the bank for the sign-in screen (once, however many calls race). */
function signedOut(notice) {
  if (view === 'signin') return
  showSignIn(notice)
}

function enterBank(user) {
  const sameUser = Boolean(currentUser && user && currentUser.username === user.username)
  if (view === 'bank' && sameUser) return
  banner('')
  currentUser = user || currentUser
  setText('whoami', currentUser?.username ?? '')
  setText('greeting-name', currentUser?.username ?? '')
  show('bank')
  if (location.hash !== '#/bank') history.replaceState(null, '', '#/bank')
  loadAll()
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(code, status, message) {
    super(message)
    this.code = code
    this.status = status
  }
}

const SESSION_ENDED = 'Your session has ended. Please sign in again.'

/**
 * auth.fetch with JSON in and out. A 401 here comes after the client's own
 * refresh attempt, so the session is really gone: back to sign-in.
 */
async function api(path, init = {}) {
  let res
  try {
    res = await auth.fetch(path, init)
  } catch (err) {
    if (err && err.status === 401) {
      signedOut(SESSION_ENDED)
      throw new ApiError(err.code || 'unauthenticated', 401, SESSION_ENDED)
    }
    if (err && err.code) throw new ApiError(err.code, err.status ?? 0, err.message)
    throw new ApiError('network', 0, "Can't reach the bank right now. Check your connection and try again.")
  }
  let body = null
  if (res.status !== 204) {
    const text = await res.text().catch(() => '')
    if (text) {
      try { body = JSON.parse(text) } catch { body = null }
    }
  }
  if (res.status === 401) {
    signedOut(SESSION_ENDED)
    throw new ApiError(body?.error?.code || 'unauthenticated', 401, SESSION_ENDED)
  }
  if (!res.ok) {
    const code = body?.error?.code || `http_${res.status}`
    const message = body?.error?.message || `The bank answered ${res.status}.`
    throw new ApiError(code, res.status, message)
  }
  return body
}

const jsonInit = (method, payload) => ({
  method,
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(payload),
})

// ---------------------------------------------------------------- bank data

async function loadMe() {
  const body = await api('/api/me')
  const user = body?.user
  if (user) {
    currentUser = { ...currentUser, ...user }
    setText('whoami', user.username ?? '')
    setText('greeting-name', user.username ?? '')
  }
}

function renderBalance(cents) {
  const balance = $('balance')
  balance.textContent = formatMoney(cents)
  balance.dataset.cents = typeof cents === 'number' ? String(cents) : ''
}

async function loadBalance() {
  const body = await api('/api/balance')
  renderBalance(body?.balance)
}

async function loadTransfers() {
  const body = await api('/api/transfers')
  const transfers = Array.isArray(body?.transfers) ? body.transfers.slice() : []
  transfers.sort((a, b) => (toDate(b.createdAt)?.getTime() ?? 0) - (toDate(a.createdAt)?.getTime() ?? 0))
  const me = currentUser?.username
  const items = transfers.map((t) => {
    const outgoing = t.from === me
    const counterpart = outgoing ? t.to : t.from
    return el('li', { className: `item transfer ${outgoing ? 'out' : 'in'}`, 'data-testid': 'transfer', dataset: { id: t.id ?? '' } },
      el('span', { className: 'dir', 'aria-hidden': 'true', text: outgoing ? '↗' : '↙' }),
      el('div', { className: 'item-main' },
        el('div', { className: 'item-title' }, outgoing ? 'Sent to ' : 'Received from ', el('strong', { text: counterpart ?? '?' })),
        el('div', { className: 'item-meta', title: toDate(t.createdAt)?.toISOString() ?? '', text: formatDate(t.createdAt) })),
      el('span', {
        className: `amount ${outgoing ? 'neg' : 'pos'}`,
        dataset: { cents: String(t.amount) },
        text: `${outgoing ? '−' : '+'}${formatMoney(t.amount)}`,
      }))
  })
  $('transfers').replaceChildren(...items)
  $('transfers-empty').hidden = items.length > 0
}

async function loadSessions() {
  let sessions
  try {
    sessions = await auth.sessions()
  } catch (err) {
    if (err?.status === 401) { signedOut(SESSION_ENDED); return }
    const errorEl = $('sessions-error')
    errorEl.textContent = `Couldn't load your devices: ${err?.message || 'unknown error'}`
    errorEl.hidden = false
    return
  }
  $('sessions-error').hidden = true
  const list = Array.isArray(sessions) ? sessions.slice() : []
  list.sort((a, b) => Number(Boolean(b.current)) - Number(Boolean(a.current))
    || (toDate(b.lastUsedAt)?.getTime() ?? 0) - (toDate(a.lastUsedAt)?.getTime() ?? 0))
  const items = list.map((s) => {
    const revoke = el('button', {
      type: 'button',
      className: 'btn btn-danger btn-small',
      'data-testid': 'revoke',
      'aria-label': s.current ? 'Revoke this device (signs you out here)' : `Revoke ${describeDevice(s.userAgent)}`,
      text: 'Revoke',
    })
    revoke.addEventListener('click', () => revokeSession(s, revoke))
    return el('li', {
      className: `item session${s.current ? ' current' : ''}`,
      'data-testid': 'session',
      dataset: { sessionId: s.id ?? '', current: s.current ? 'true' : 'false' },
    },
    deviceIcon(/iPhone|iPad|Android|Mobile/.test(s.userAgent || '')),
    el('div', { className: 'item-main' },
      el('div', { className: 'item-title', title: s.userAgent || '' },
        describeDevice(s.userAgent),
        s.current ? el('span', { className: 'tag', 'data-testid': 'current-session', text: 'This device' }) : null),
      el('div', { className: 'item-meta' },
        `Signed in ${formatRelative(s.createdAt)} · active ${formatRelative(s.lastUsedAt)} · expires ${formatDate(s.expiresAt)}`)),
    revoke)
  })
  $('sessions').replaceChildren(...items)
  $('sessions-empty').hidden = items.length > 0
}

async function revokeSession(session, button) {
  button.disabled = true
  try {
    if (session.current) signingOut = true
    await auth.revokeSession(session.id)
    if (session.current) {
      signedOut('You revoked this device, so you were signed out.')
      return
    }
    await loadSessions()
  } catch (err) {
    if (err?.status === 401) { signedOut(SESSION_ENDED); return }
    const errorEl = $('sessions-error')
    errorEl.textContent = `Couldn't revoke that device: ${err?.message || 'unknown error'}`
    errorEl.hidden = false
    button.disabled = false
  } finally {
    if (session.current) signingOut = false
  }
}

async function loadServerSession() {
  let info
  try {
    info = await auth.session()
  } catch {
    return
  }
  if (!info) {
    if (view === 'bank') signedOut(SESSION_ENDED)
    return
  }
  setText('server-user', info.user ? `${info.user.username} (id ${info.user.id})` : '—')
  setText('server-session-id', info.session?.id ?? '—')
  setText('device-binding', DEVICE_BINDING[auth.getState().deviceBinding] ?? '—')
  const expires = info.session?.expiresAt
  setText('server-session-expires', expires ? `${formatDate(expires)} (${formatRelative(expires)})` : '—')
}

async function loadAll() {
  const results = await Promise.allSettled([loadMe(), loadBalance(), loadTransfers(), loadSessions(), loadServerSession()])
  renderJsVisible()
  const failure = results.find((r) => r.status === 'rejected' && r.reason?.status !== 401)
  if (failure && view === 'bank') banner(failure.reason?.message || 'Something went wrong loading your account.')
}

// ---------------------------------------------------------------- JS-visible panel

const JWT_LIKE = /eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/

function storageLines(storage) {
  const lines = []
  try {
    for (let i = 0; i < storage.length; i++) {
      const key = storage.key(i)
      lines.push(`${key} = ${storage.getItem(key)}`)
    }
  } catch {
    lines.push('(not accessible)')
  }
  return lines
}

function renderJsVisible() {
  const cookieText = document.cookie
  const cookies = cookieText ? cookieText.split(/;\s*/) : []
  const local = storageLines(window.localStorage)
  const session = storageLines(window.sessionStorage)
  setText('js-cookie', cookies.length ? cookies.join('\n') : '(empty)')
  setText('js-local', local.length ? local.join('\n') : '(empty)')
  setText('js-session', session.length ? session.join('\n') : '(empty)')

  const everything = [...cookies, ...local, ...session]
  const leaked = everything.some((line) => JWT_LIKE.test(line) || /^(__Host-access|__Secure-refresh)=/.test(line))
  const verdict = $('js-verdict')
  verdict.className = `verdict ${leaked ? 'bad' : 'good'}`
  verdict.textContent = leaked
    ? 'Warning: something that looks like an authentication token is visible to scripts.'
    : 'No access or refresh token is visible here. A script injected into this page would find nothing that signs in as you.'
}

// ---------------------------------------------------------------- forms

function loginErrorMessage(err) {
  switch (err?.code) {
    case 'invalid_credentials':
      return "That username and password don't match. Check them and try again."
    case 'rate_limited': {
      const seconds = retryAfterSeconds(err)
      return seconds
        ? `Too many attempts. Please wait ${seconds} second${seconds === 1 ? '' : 's'} before trying again.`
        : 'Too many attempts. Please wait a moment before trying again.'
    }
    case 'bad_request':
      return err.message || 'Please enter a username and a password.'
    case 'csrf_failed':
    case 'forbidden_origin':
      return 'The security check failed. Reload the page and try again.'
    case 'unavailable':
      return 'The bank is temporarily unavailable. Please try again shortly.'
    default:
      if (err instanceof TypeError || err?.status === 0) return "Can't reach the bank right now. Check your connection."
      return err?.message || 'Sign-in failed. Please try again.'
  }
}

/** The wait the server asked for (Retry-After), wherever the client put it. */
function retryAfterSeconds(err) {
  const candidates = [err?.retryAfter, err?.retryAfterSeconds, err?.details?.retryAfter, err?.body?.error?.retryAfter]
  if (err?.headers && typeof err.headers.get === 'function') candidates.push(err.headers.get('Retry-After'))
  if (err?.response?.headers && typeof err.response.headers.get === 'function') candidates.push(err.response.headers.get('Retry-After'))
  for (const value of candidates) {
    const n = Number(value)
    if (value !== undefined && value !== null && value !== '' && Number.isFinite(n) && n >= 0) return Math.ceil(n)
  }
  const fromMessage = /(\d+)\s*(?:s\b|sec|second)/i.exec(err?.message || '')
  return fromMessage ? Number(fromMessage[1]) : null
}

let cooldownTimer = null

function startCooldown(seconds) {
  const submit = $('login-submit')
  clearInterval(cooldownTimer)
  let left = seconds
  submit.disabled = true
  const tick = () => {
    if (left <= 0) {
      clearInterval(cooldownTimer)
      submit.disabled = false
      submit.textContent = 'Sign in'
      return
    }
    submit.textContent = `Try again in ${left}s`
    left -= 1
  }
  tick()
  cooldownTimer = setInterval(tick, 1000)
}

function showLoginError(message) {
  const errorEl = $('login-error')
  errorEl.textContent = message || ''
  errorEl.hidden = !message
}

async function onLogin(event) {
  event.preventDefault()
  const username = $('username').value.trim()
  const password = $('password').value
  if (!username || !password) {
    showLoginError('Please enter your username and password.')
    return
  }
  showLoginError('')
  $('signin-notice').hidden = true
  const submit = $('login-submit')
  submit.disabled = true
  submit.textContent = 'Signing in…'
  let cooling = false
  try {
    const result = await auth.login({ username, password })
    $('password').value = ''
    const user = result?.user ?? (await auth.session())?.user
    enterBank(user)
  } catch (err) {
    showLoginError(loginErrorMessage(err))
    $('login-error').dataset.code = err?.code ?? ''
    if (err?.code === 'rate_limited') {
      const seconds = retryAfterSeconds(err)
      if (seconds) { cooling = true; startCooldown(seconds) }
    }
    $('password').select()
  } finally {
    if (!cooling) {
      submit.disabled = false
      submit.textContent = 'Sign in'
    }
  }
}

function showTransferResult(kind, message) {
  const result = $('transfer-result')
  result.className = `result ${kind}`
  result.dataset.status = kind
  result.textContent = message
  result.hidden = false
}

async function onTransfer(event) {
  event.preventDefault()
  const to = $('transfer-to').value.trim()
  const cents = parseDollars($('transfer-amount').value)
  if (!to) { showTransferResult('error', 'Enter the username to send money to.'); return }
  if (cents === null || cents <= 0) {
    showTransferResult('error', 'Enter an amount in dollars, like 50 or 12.34.')
    return
  }
  const submit = $('transfer-submit')
  submit.disabled = true
  try {
    const body = await api('/api/transfer', jsonInit('POST', { to, amount: cents }))
    showTransferResult('ok', `Sent ${formatMoney(cents)} to ${to}.`)
    $('transfer-form').reset()
    if (typeof body?.balance === 'number') renderBalance(body.balance)
    await Promise.allSettled([loadBalance(), loadTransfers()])
  } catch (err) {
    if (err?.status === 401) return
    const result = $('transfer-result')
    showTransferResult('error', err.message)
    result.dataset.code = err.code ?? ''
  } finally {
    submit.disabled = false
  }
}

async function onLogout(all) {
  if (signingOut) return
  signingOut = true
  const buttons = [$('logout'), $('logout-all')]
  for (const b of buttons) b.disabled = true
  try {
    if (all) await auth.logoutAll()
    else await auth.logout()
    showSignIn(all ? 'You were signed out on every device.' : 'You signed out.')
  } catch (err) {
    if (err?.status === 401) showSignIn(SESSION_ENDED)
    else banner(`Couldn't sign out: ${err?.message || 'unknown error'}`)
  } finally {
    signingOut = false
    for (const b of buttons) b.disabled = false
  }
}

// ---------------------------------------------------------------- provider sign-in

const AUTH_ERRORS = {
  oauth_state: 'That sign-in link was not started here (or it expired). Please try again.',
  oauth_denied: 'The sign-in was cancelled or refused.',
  oauth_exchange: 'The provider did not confirm the sign-in. Please try again.',
  oauth_id_token: 'The provider\'s answer could not be verified.',
  oauth_unavailable: 'The provider cannot be reached right now. Please try again shortly.',
}

/** The `?auth_error=<code>` a failed provider sign-in lands with: read once, then removed from the address bar. */
function takeAuthError() {
  const params = new URLSearchParams(location.search)
  const code = params.get('auth_error')
  if (!code) return null
  params.delete('auth_error')
  const rest = params.toString()
  history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash)
  return { code, message: AUTH_ERRORS[code] || 'The sign-in with the provider failed.' }
}

async function startProviderSignIn(provider, button) {
  button.disabled = true
  try {
    // The client proves the device key here (DPoP): the session the provider's callback starts is bound to it.
    location.assign(await auth.startSignIn(provider.id, { returnTo: '/' }))
  } catch (err) {
    showLoginError(`Could not start the sign-in with ${provider.name}: ${err?.message || err}`)
    button.disabled = false
  }
}

async function renderProviders() {
  const box = $('providers')
  let providers = []
  try {
    const res = await fetch('/auth/providers', { credentials: 'same-origin' })
    if (res.ok) providers = (await res.json()).providers ?? []
  } catch {}
  box.replaceChildren()
  for (const provider of providers) {
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'btn btn-block btn-provider'
    button.id = `provider-${provider.id}`
    button.textContent = `Sign in with ${provider.name}`
    button.addEventListener('click', () => startProviderSignIn(provider, button))
    box.append(button)
  }
  box.hidden = providers.length === 0
}

// ---------------------------------------------------------------- start

function wireUi() {
  $('login-form').addEventListener('submit', onLogin)
  $('transfer-form').addEventListener('submit', onTransfer)
  $('logout').addEventListener('click', () => onLogout(false))
  $('logout-all').addEventListener('click', () => onLogout(true))
  $('js-visible-refresh').addEventListener('click', () => {
    renderJsVisible()
    if (view === 'bank') loadServerSession()
  })
  for (const button of document.querySelectorAll('[data-fill]')) {
    button.addEventListener('click', () => {
      $('username').value = button.dataset.fill
      $('password').value = button.dataset.password
      $('login-submit').focus()
    })
  }

  // The attacker page lives on another site: 127.0.0.1 at the next port by
  // default; the server says where it really is (ATTACKER_PORT, or PORT=0).
  const link = $('attacker-link')
  const setAttackerLink = (origin) => {
    link.href = `${origin}/`
    link.textContent = `attacker page (${origin})`
  }
  const port = Number(location.port || (location.protocol === 'https:' ? 443 : 80))
  setAttackerLink(`http://127.0.0.1:${port + 1}`)
  link.target = '_blank'
  fetch('/api/public', { credentials: 'omit' })
    .then((res) => (res.ok ? res.json() : null))
    .then((body) => {
      const origin = body?.attackerOrigin
      if (typeof origin === 'string' && /^https?:\/\/[^/]+$/.test(origin)) setAttackerLink(origin)
    })
    .catch(() => {})
}

/** When the tab comes back into view, make sure the session still stands. */
function watchSession() {
  const recheck = async () => {
    if (view !== 'bank' || document.visibilityState !== 'visible') return
    let info
    try {
      info = await auth.session()
    } catch {
      return
    }
    if (!info) { signedOut('You were signed out (from another tab or device).'); return }
    loadBalance().catch(() => {})
    loadTransfers().catch(() => {})
    loadSessions()
    renderJsVisible()
  }
  document.addEventListener('visibilitychange', recheck)
  window.addEventListener('focus', recheck)
  setInterval(recheck, 30_000)
}

let auth
try {
  const { createAuthClient } = await import('/assets/bastion-client.js')
  auth = createAuthClient({ baseUrl: '' })
} catch (err) {
  show('signin')
  $('login-form').hidden = true
  banner('The Bastion client failed to load (/assets/bastion-client.js). Build it with "npm run build" and reload.')
  console.error(err)
}

if (auth) {
  wireUi()
  watchSession()
  renderProviders()
  const authError = takeAuthError()

  auth.subscribe((state) => {
    if (!state) return
    if (state.status === 'signed-out') {
      // Our own logout / revoke says its own goodbye; anything else came from elsewhere.
      if (view === 'bank' && !signingOut) signedOut('You were signed out (from another tab or device).')
    } else if (state.status === 'signed-in' && state.user && view !== 'loading') {
      enterBank(state.user)
    }
  })

  try {
    const info = await auth.session()
    if (info?.user) enterBank(info.user)
    else showSignIn(authError?.message)
    if (authError) $('signin-notice').dataset.code = authError.code
    if (authError && info?.user) banner(authError.message)
  } catch (err) {
    showSignIn()
    if (err?.code === 'unavailable') banner('The bank is temporarily unavailable. Please try again shortly.')
    else if (!(err?.status >= 400)) banner("Can't reach the bank right now. Check your connection and reload.")
  }
}
