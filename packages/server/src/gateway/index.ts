import type { GatewayOptions } from '../config.ts'

/**
 * An upstream API to put behind Bastion, for `createBastion({ gateway })`:
 * typed options with their defaults documented on `GatewayOptions`.
 *
 * @example
 * ```ts
 * const bastion = await createBastion({ store, secret, gateway: gateway({ upstream: 'http://127.0.0.1:8000', prefix: '/gateway' }) })
 * ```
 */
export function gateway(options: GatewayOptions): GatewayOptions {
  return options
}
