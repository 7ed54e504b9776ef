/**
 * Vue 3 binding: a plugin provides the client; useAuth() mirrors its state
 * into shallow refs (the state objects are replaced, never mutated) and
 * unsubscribes when the calling component or effect scope is disposed.
 */

import { getCurrentScope, inject, onScopeDispose, shallowRef, type App, type InjectionKey, type ShallowRef } from 'vue'
import type { AuthClient, AuthStatus, Session, User } from './types.ts'

export const authClientKey: InjectionKey<AuthClient> = Symbol('bastion-auth')

export interface AuthPluginOptions {
  /** Ask the server who is signed in when the state is still 'unknown' (default true). */
  loadSession?: boolean
}

export function createAuthPlugin(client: AuthClient, { loadSession = true }: AuthPluginOptions = {}) {
  return {
    install(app: App) {
      app.provide(authClientKey, client)
      if (loadSession && client.getState().status == 'unknown') client.session().catch(() => {})
    },
  }
}

export interface UseAuth {
  client: AuthClient
  status: ShallowRef<AuthStatus>
  user: ShallowRef<User | undefined>
  session: ShallowRef<Session | undefined>
  login: AuthClient['login']
  register: AuthClient['register']
  logout: AuthClient['logout']
  logoutAll: AuthClient['logoutAll']
  fetch: AuthClient['fetch']
}

/** Uses the provided client, or `client` when called outside a component tree. */
export function useAuth(client: AuthClient | undefined = inject(authClientKey, undefined)): UseAuth {
  if (!client) throw new Error('useAuth needs app.use(createAuthPlugin(client)) or a client argument')
  const state = client.getState()
  const status = shallowRef(state.status)
  const user = shallowRef(state.user)
  const session = shallowRef(state.session)
  const unsubscribe = client.subscribe((next) => {
    status.value = next.status
    user.value = next.user
    session.value = next.session
  })
  if (getCurrentScope()) onScopeDispose(unsubscribe)
  return {
    client,
    status,
    user,
    session,
    login: client.login,
    register: client.register,
    logout: client.logout,
    logoutAll: client.logoutAll,
    fetch: client.fetch,
  }
}
