/** The accounts the demo seeds on first start (the contract's). */
export const DEMO_USERS = [
  { username: 'alice', password: 'alice-password-1', balance: 100_000 },
  { username: 'mallory', password: 'mallory-password-1', balance: 0 },
] as const
