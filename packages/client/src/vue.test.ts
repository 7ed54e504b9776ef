// @vitest-environment happy-dom
import { afterEach, beforeEach, expect, it } from 'vitest'
import { createApp, defineComponent, effectScope, h, nextTick } from 'vue'
import { createAuthClient, type AuthClient } from './index.ts'
import { startFakeServer, type FakeServer } from './testing/fake-server.ts'
import { CookieJar } from './testing/jar.ts'
import { createAuthPlugin, useAuth } from './vue.ts'

let server: FakeServer
let auth: AuthClient
const alice = { username: 'alice', password: 'alice-password-1' }

beforeEach(async () => {
  server = await startFakeServer()
  auth = createAuthClient({ baseUrl: server.url, fetch: new CookieJar().httpFetch, channelName: 'vue-test' })
})
afterEach(async () => {
  auth.close()
  await server.close()
})

it('the plugin provides the client and the composable re-renders on change', async () => {
  const Status = defineComponent({
    setup() {
      const { status, user } = useAuth()
      return () => h('p', `${status.value}:${user.value?.username ?? '-'}`)
    },
  })
  const el = document.createElement('div')
  const app = createApp(Status).use(createAuthPlugin(auth, { loadSession: false }))
  app.mount(el)
  expect(el.textContent).toBe('unknown:-')
  await auth.login(alice)
  await nextTick()
  expect(el.textContent).toBe('signed-in:alice')
  await auth.logout()
  await nextTick()
  expect(el.textContent).toBe('signed-out:-')
  app.unmount()
})

it('useAuth refs update and unsubscribe when the scope is disposed', async () => {
  const scope = effectScope()
  const state = scope.run(() => useAuth(auth))!
  await auth.login(alice)
  expect(state.status.value).toBe('signed-in')
  expect(state.session.value?.id).toBe(auth.getState().session?.id)
  scope.stop()
  await auth.logout()
  expect(state.status.value).toBe('signed-in') // no longer listening
})
