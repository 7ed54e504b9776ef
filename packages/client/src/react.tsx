/**
 * React binding: the client is the store; components read it through
 * useSyncExternalStore, so every state change (this tab or another tab)
 * re-renders without tearing.
 */

import { createContext, useContext, useEffect, useMemo, useSyncExternalStore, type ReactNode } from 'react'
import type { AuthClient, AuthState, Session } from './types.ts'

const AuthContext = createContext<AuthClient | null>(null)

export interface AuthProviderProps {
  client: AuthClient
  children?: ReactNode
  /** Ask the server who is signed in when the state is still 'unknown' (default true). */
  loadSession?: boolean
}

export function AuthProvider({ client, children, loadSession = true }: AuthProviderProps) {
  useEffect(() => {
    // A 401 already resolves to signed-out; other failures leave 'unknown'.
    if (loadSession && client.getState().status == 'unknown') client.session().catch(() => {})
  }, [client, loadSession])
  return <AuthContext.Provider value={client}>{children}</AuthContext.Provider>
}

export function useAuthClient(): AuthClient {
  const client = useContext(AuthContext)
  if (!client) throw new Error('useAuth must be used inside <AuthProvider>')
  return client
}

export interface UseAuth extends AuthState {
  client: AuthClient
  login: AuthClient['login']
  register: AuthClient['register']
  logout: AuthClient['logout']
  logoutAll: AuthClient['logoutAll']
  fetch: AuthClient['fetch']
}

export function useAuth(): UseAuth {
  const client = useAuthClient()
  const state = useSyncExternalStore(client.subscribe, client.getState, client.getState)
  return useMemo(
    () => ({
      ...state,
      client,
      login: client.login,
      register: client.register,
      logout: client.logout,
      logoutAll: client.logoutAll,
      fetch: client.fetch,
    }),
    [client, state],
  )
}

export function useSession(): Session | undefined {
  return useAuth().session
}
