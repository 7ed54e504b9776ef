/** The auth state and its listeners; one immutable object per change (useSyncExternalStore needs stable snapshots). */

import type { AuthListener, AuthState } from './types.ts'

export interface Store {
  get(): AuthState
  set(next: AuthState): void
  subscribe(listener: AuthListener): () => void
}

export function createStore(initial: AuthState): Store {
  let state = initial
  const listeners = new Set<AuthListener>()
  return {
    get: () => state,
    set(next) {
      state = next
      listeners.forEach((listener) => listener(state))
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
  }
}
