import { hash, verify } from '@node-rs/argon2'

/** OWASP Password Storage Cheat Sheet, argon2id: 19 MiB, 2 passes, 1 lane. */
export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

// Algorithm.Argon2id is a const enum in the package's types, unusable under isolatedModules.
const ARGON2ID = 2

export class PasswordHasher {
  readonly params: Argon2Params
  /** A real hash of a random password, verified for unknown users so they cost the same as wrong passwords. */
  private dummy: Promise<string>

  constructor(params: Argon2Params = OWASP_ARGON2ID) {
    this.params = params
    this.dummy = this.hash(crypto.randomUUID())
  }

  hash(password: string): Promise<string> {
    return hash(password, { ...this.params, algorithm: ARGON2ID })
  }

  async verify(passwordHash: string | null, password: string): Promise<boolean> {
    const target = passwordHash ?? (await this.dummy)
    let ok: boolean
    try {
      ok = await verify(target, password)
    } catch {
      ok = false
    }
    return ok && passwordHash !== null
  }

  /** True when the stored hash was made with other parameters (or another algorithm) and should be redone at login. */
  needsRehash(passwordHash: string): boolean {
    const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(passwordHash)
    if (!m) return true
    return Number(m[1]) !== this.params.memoryCost || Number(m[2]) !== this.params.timeCost || Number(m[3]) !== this.params.parallelism
  }
}
