// @vitest-environment happy-dom
import { act } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { createAuthClient, type AuthClient } from './index.ts'
import { AuthProvider, useAuth, useSession } from './react.tsx'
import { startFakeServer, type FakeServer } from './testing/fake-server.ts'
import { CookieJar } from './testing/jar.ts'

// Tell React this is a test environment so act() does not warn.
;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

let server: FakeServer
let auth: AuthClient
let root: Root
let container: HTMLElement
const renders: string[] = []

function Status() {
  const { status, user } = useAuth()
  const session = useSession()
  renders.push(status)
  return (
    <p>
      {status}:{user?.username ?? '-'}:{session ? 'session' : 'none'}
    </p>
  )
}

beforeEach(async () => {
  server = await startFakeServer()
  const jar = new CookieJar()
  auth = createAuthClient({ baseUrl: server.url, fetch: jar.httpFetch, channelName: 'react-test' })
  container = document.createElement('div')
  document.body.append(container)
  root = createRoot(container)
})
afterEach(async () => {
  act(() => root.unmount())
  auth.close()
  await server.close()
})

const settle = () => act(() => new Promise((r) => setTimeout(r, 50)))

it('resolves the initial state, then re-renders on login and logout', async () => {
  act(() =>
    root.render(
      <AuthProvider client={auth}>
        <Status />
      </AuthProvider>,
    ),
  )
  expect(container.textContent).toBe('unknown:-:none')
  await settle() // the provider asked GET /auth/session: 401
  expect(container.textContent).toBe('signed-out:-:none')

  await act(() => auth.login({ username: 'alice', password: 'alice-password-1' }).then(() => {}))
  expect(container.textContent).toBe('signed-in:alice:session')

  await act(() => auth.logout())
  expect(container.textContent).toBe('signed-out:-:none')
  expect(renders).toContain('signed-in')
})

it('useAuth outside the provider throws a clear error', () => {
  const original = console.error
  console.error = () => {} // React logs the thrown error
  try {
    expect(() => act(() => root.render(<Status />))).toThrow(/AuthProvider/)
  } finally {
    console.error = original
  }
})
