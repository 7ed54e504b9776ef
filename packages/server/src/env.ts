import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { BastionOptions } from './config.ts'
import { DEVICE_BINDING_POLICIES, type DeviceBindingPolicy } from './dpop/binding.ts'
import { ConfigError } from './errors.ts'

/** The options the contract's environment variables set (see the README's configuration table). */
export type EnvOptions = Pick<
  BastionOptions,
  'publicOrigin' | 'allowedOrigins' | 'trustProxy' | 'accessTtl' | 'refreshTtl' | 'sessionMaxAge' | 'refreshGrace' | 'production' | 'accessToken' | 'gateway'
> & { deviceBinding?: DeviceBindingPolicy }

function wholeNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new ConfigError(`${name} must be a positive whole number, got "${raw}".`)
  return Number(raw)
}

/** BASTION_ACCESS_FORMAT: `jws` (default) or `jwe`. */
function accessFormat(env: NodeJS.ProcessEnv): 'jws' | 'jwe' | undefined {
  const raw = (env.BASTION_ACCESS_FORMAT ?? '').trim().toLowerCase()
  if (raw === '') return undefined
  if (raw !== 'jws' && raw !== 'jwe') throw new ConfigError(`BASTION_ACCESS_FORMAT must be jws or jwe, got "${env.BASTION_ACCESS_FORMAT}".`)
  return raw
}

/** BASTION_GATEWAY_*: one upstream behind Bastion, when BASTION_GATEWAY_UPSTREAM is set. */
function gatewayFromEnv(env: NodeJS.ProcessEnv): BastionOptions['gateway'] {
  const upstream = env.BASTION_GATEWAY_UPSTREAM?.trim()
  if (!upstream) return undefined
  return {
    upstream,
    prefix: env.BASTION_GATEWAY_PREFIX?.trim() || undefined,
    audience: env.BASTION_GATEWAY_AUDIENCE?.trim() || undefined,
    maxBodyBytes: wholeNumber(env, 'BASTION_GATEWAY_MAX_BODY_BYTES'),
    timeoutMs: wholeNumber(env, 'BASTION_GATEWAY_TIMEOUT_MS'),
  }
}

function seconds(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new ConfigError(`${name} must be a positive whole number of seconds, got "${raw}".`)
  return Number(raw)
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase()
  if (['', '0', 'false', 'no', 'off'].includes(raw)) return false
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  throw new ConfigError(`${name} must be 1 or 0, got "${env[name]}".`)
}

/** `BASTION_DEVICE_BINDING`: `when-offered` (default), `required` or `off`. */
function deviceBinding(env: NodeJS.ProcessEnv): DeviceBindingPolicy | undefined {
  const raw = env.BASTION_DEVICE_BINDING
  if (raw === undefined || raw === '') return undefined
  if (!(DEVICE_BINDING_POLICIES as readonly string[]).includes(raw)) {
    throw new ConfigError(`BASTION_DEVICE_BINDING must be ${DEVICE_BINDING_POLICIES.join(', ')}; got "${raw}".`)
  }
  return raw as DeviceBindingPolicy
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): EnvOptions {
  const allowed = (env.BASTION_ALLOWED_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  return {
    publicOrigin: env.BASTION_PUBLIC_ORIGIN || undefined,
    allowedOrigins: allowed,
    trustProxy: flag(env, 'BASTION_TRUST_PROXY'),
    accessTtl: seconds(env, 'BASTION_ACCESS_TTL'),
    refreshTtl: seconds(env, 'BASTION_REFRESH_TTL'),
    sessionMaxAge: seconds(env, 'BASTION_SESSION_MAX_AGE'),
    refreshGrace: seconds(env, 'BASTION_REFRESH_GRACE'),
    production: env.NODE_ENV === 'production',
    accessToken: { format: accessFormat(env) },
    gateway: gatewayFromEnv(env),
    deviceBinding: deviceBinding(env),
  }
}

/**
 * `BASTION_SECRET` when set. Otherwise, outside production, a random secret
 * generated once and kept (mode 0600) in the data directory, so that
 * sessions and keys survive a restart of the demo. In production a missing
 * secret stops the start: a generated one would differ per instance.
 */
export function resolveSecret(env: NodeJS.ProcessEnv, dataDir: string): string {
  if (env.BASTION_SECRET) return env.BASTION_SECRET
  if (env.NODE_ENV === 'production') {
    throw new ConfigError('BASTION_SECRET is not set. In production every instance needs the same secret of at least 32 characters, e.g. `openssl rand -base64 48`.')
  }
  const file = join(dataDir, 'secret')
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  mkdirSync(dataDir, { recursive: true })
  const secret = randomBytes(48).toString('base64url')
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' })
  } catch (e) {
    // Another process started at the same moment and wrote it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim()
    throw e
  }
  chmodSync(file, 0o600)
  return secret
}
