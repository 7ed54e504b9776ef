import type { RouteFamily } from '../context.ts'

/** `GET /.well-known/jwks.json`: the public signing keys, so other services verify access tokens without asking. */
export const jwksRoutes: RouteFamily = ({ keyring }) => [
  {
    method: 'GET',
    path: '/.well-known/jwks.json',
    async handler() {
      // Rarely fetched (verifiers cache it), and must list a key another instance just made.
      await keyring.reloadIfStale()
      return new Response(JSON.stringify(keyring.jwks()), {
        headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' },
      })
    },
  },
]
