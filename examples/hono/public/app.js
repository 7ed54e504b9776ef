// The page's script: plain DOM, and the client imported as one ES module (no bundler).
import { createAuthClient } from '/bastion-client.js'

const auth = createAuthClient() // same origin: the CSRF cookie is readable, no baseUrl
const $ = (id) => document.getElementById(id)
const show = (el, text) => ((el.textContent = text ?? ''), (el.hidden = !text))

function element(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) k === 'onclick' ? el.addEventListener('click', v) : el.setAttribute(k, v)
  el.append(...children)
  return el
}

// One view per sign-in state; every tab follows (a sign-out in one tab signs out all).
let shown
auth.subscribe(render)
function render({ status }) {
  if (status === shown) return // a refresh re-announces signed-in: nothing to redraw
  shown = status
  $('status').hidden = status !== 'unknown'
  $('view-sign-in').hidden = status !== 'signed-out'
  $('view-home').hidden = status !== 'signed-in'
  if (status === 'signed-in') loadHome()
}

async function check() {
  show($('unreachable'), '')
  try {
    await auth.session() // 401 resolves to signed-out
  } catch (e) {
    $('status').hidden = true
    show($('unreachable'), `Cannot reach the server: ${e.message}`)
  }
}

$('view-sign-in').addEventListener('submit', async (event) => {
  event.preventDefault()
  const credentials = { username: $('username').value, password: $('password').value }
  const action = event.submitter?.value === 'register' ? auth.register : auth.login
  show($('sign-in-error'), '')
  try {
    await action(credentials) // register signs in afterwards
    $('password').value = ''
  } catch (e) {
    show($('sign-in-error'), e.message)
  }
})

async function loadHome() {
  show($('home-error'), '')
  $('whoami').textContent = '…'
  try {
    // The authenticated call: the access cookie rides along; an expired one is refreshed once and replayed.
    const res = await auth.fetch('/api/me')
    if (!res.ok) throw new Error(`/api/me answered ${res.status}`)
    $('whoami').textContent = (await res.json()).user.username
    const { notes } = await (await auth.fetch('/api/notes')).json()
    $('notes').replaceChildren(...notes.map(noteItem))
    await loadDevices()
  } catch (e) {
    show($('home-error'), e.message)
  }
}

const noteItem = (n) => element('li', { 'data-testid': 'note' }, n.text)

$('note-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  show($('home-error'), '')
  // A state-changing request: the client adds the X-CSRF-Token header (and the JSON content type).
  const res = await auth.fetch('/api/notes', { method: 'POST', body: JSON.stringify({ text: $('note-text').value }) })
  const body = await res.json().catch(() => ({}))
  if (res.status !== 201) return show($('home-error'), body.error?.message ?? `POST /api/notes answered ${res.status}`)
  $('notes').append(noteItem(body.note))
  $('note-text').value = ''
})

async function loadDevices() {
  const devices = await auth.sessions()
  $('devices').dataset.count = String(devices.length)
  $('devices').replaceChildren(
    ...devices.map((d) =>
      element(
        'li',
        { 'data-testid': 'device', 'data-current': String(d.current) },
        element('span', {}, describeAgent(d.userAgent), ' ', d.current ? element('em', {}, '(this device)') : '', element('br'),
          element('small', {}, `signed in ${new Date(d.createdAt).toLocaleString()}, last used ${new Date(d.lastUsedAt).toLocaleString()}`)),
        element('button', { onclick: () => revoke(d.id) }, d.current ? 'Sign out here' : 'Revoke'),
      ),
    ),
  )
}

async function revoke(id) {
  try {
    await auth.revokeSession(id) // DELETE /auth/sessions/:id; revoking this device signs out
    if (auth.getState().status === 'signed-in') await loadDevices()
  } catch (e) {
    show($('home-error'), e.message)
  }
}

$('sign-out').addEventListener('click', () => auth.logout())

function describeAgent(ua) {
  if (!ua) return 'Unknown device'
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'A browser'
  const os = /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Linux/.test(ua) ? 'Linux' : ''
  return os ? `${browser} on ${os}` : browser
}

check()
