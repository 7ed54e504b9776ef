import { useCallback, useEffect, useState } from 'react'
import { useAuth } from '@bastion/client/react'

/** The whole SPA: sign-in, then who am I, notes (a CSRF-protected POST), devices, sign out. */
export function App({ apiUrl }) {
  const { status, client } = useAuth()
  const [unreachable, setUnreachable] = useState('')
  const check = useCallback(() => {
    setUnreachable('')
    // 401 resolves to signed-out; anything else (API down, CORS refused) lands here.
    client.session().catch((e) => setUnreachable(`Cannot reach the API at ${apiUrl}: ${e.message}`))
  }, [client, apiUrl])
  useEffect(check, [check])

  return (
    <main>
      <h1>Bastion · React + Express</h1>
      {unreachable ? (
        <p className="error" data-testid="error">
          {unreachable} <button onClick={check}>Retry</button>
        </p>
      ) : status === 'unknown' ? (
        <p data-testid="status">Loading…</p>
      ) : status === 'signed-in' ? (
        <Home />
      ) : (
        <SignIn />
      )}
    </main>
  )
}

function SignIn() {
  const { login, register } = useAuth()
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)

  async function submit(event) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const credentials = { username: String(form.get('username')), password: String(form.get('password')) }
    const action = event.nativeEvent.submitter?.value === 'register' ? register : login
    setBusy(true)
    setError('')
    try {
      await action(credentials) // register signs in afterwards
    } catch (e) {
      setError(e.message)
      setBusy(false)
    }
  }

  return (
    <form onSubmit={submit} data-testid="sign-in">
      <p>Sign in as <code>alice</code> / <code>alice-password-1</code>, or create an account.</p>
      <label>Username <input id="username" name="username" autoComplete="username" required /></label>
      <label>Password <input id="password" name="password" type="password" autoComplete="current-password" required /></label>
      <div className="row">
        <button id="sign-in" type="submit" value="login" disabled={busy}>Sign in</button>
        <button id="register" type="submit" value="register" disabled={busy}>Create account</button>
      </div>
      {error && <p className="error" data-testid="error">{error}</p>}
    </form>
  )
}

function Home() {
  const { fetch, logout } = useAuth()
  const [me, setMe] = useState(null)
  const [error, setError] = useState('')

  useEffect(() => {
    // The authenticated call: the access cookie rides along; an expired one is refreshed once and replayed.
    fetch('/api/me')
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`/api/me answered ${res.status}`))))
      .then((body) => setMe(body.user), (e) => setError(e.message))
  }, [fetch])

  return (
    <>
      <section className="row spread">
        <p>
          Signed in as <strong data-testid="whoami">{me ? me.username : '…'}</strong> <small>(from <code>GET /api/me</code>)</small>
        </p>
        <button id="sign-out" onClick={() => logout()}>Sign out</button>
      </section>
      {error && <p className="error" data-testid="error">{error}</p>}
      <Notes />
      <Devices />
    </>
  )
}

function Notes() {
  const { fetch } = useAuth()
  const [notes, setNotes] = useState([])
  const [text, setText] = useState('')
  const [error, setError] = useState('')

  useEffect(() => {
    fetch('/api/notes').then((res) => res.json()).then((body) => setNotes(body.notes ?? []), () => {})
  }, [fetch])

  async function add(event) {
    event.preventDefault()
    setError('')
    // A state-changing request: the client adds the X-CSRF-Token header (and the JSON content type).
    const res = await fetch('/api/notes', { method: 'POST', body: JSON.stringify({ text }) })
    const body = await res.json().catch(() => ({}))
    if (res.status !== 201) return setError(body.error?.message ?? `POST /api/notes answered ${res.status}`)
    setNotes((list) => [...list, body.note])
    setText('')
  }

  return (
    <section>
      <h2>Notes</h2>
      <form onSubmit={add} className="row">
        <input id="note-text" value={text} onChange={(e) => setText(e.target.value)} placeholder="Write a note" required maxLength={500} />
        <button id="note-add" type="submit">Add (POST /api/notes)</button>
      </form>
      {error && <p className="error" data-testid="error">{error}</p>}
      <ul data-testid="notes">
        {notes.map((n) => (
          <li key={n.id} data-testid="note">{n.text}</li>
        ))}
      </ul>
    </section>
  )
}

function Devices() {
  const { client } = useAuth()
  const [devices, setDevices] = useState(null)
  const [error, setError] = useState('')

  const load = useCallback(() => {
    client.sessions().then(setDevices, (e) => setError(e.message))
  }, [client])
  useEffect(load, [load])

  async function revoke(id) {
    setError('')
    try {
      await client.revokeSession(id) // DELETE /auth/sessions/:id; revoking this device signs out
      load()
    } catch (e) {
      setError(e.message)
    }
  }

  return (
    <section>
      <h2>Devices</h2>
      {error && <p className="error" data-testid="error">{error}</p>}
      {devices === null ? (
        <p>Loading…</p>
      ) : (
        <ul data-testid="devices" data-count={devices.length}>
          {devices.map((d) => (
            <li key={d.id} data-testid="device" data-current={d.current ? 'true' : 'false'}>
              <span>
                {describeAgent(d.userAgent)} {d.current && <em>(this device)</em>}
                <br />
                <small>signed in {new Date(d.createdAt).toLocaleString()}, last used {new Date(d.lastUsedAt).toLocaleString()}</small>
              </span>
              <button onClick={() => revoke(d.id)}>{d.current ? 'Sign out here' : 'Revoke'}</button>
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}

function describeAgent(ua) {
  if (!ua) return 'Unknown device'
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'A browser'
  const os = /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Linux/.test(ua) ? 'Linux' : ''
  return os ? `${browser} on ${os}` : browser
}
