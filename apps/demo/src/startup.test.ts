// The demo process as an operator meets it: a bad setting stops the start
// with a message that says what to do; HTTPS for local development works.
import { request } from 'node:https'
import { describe, expect, it } from 'vitest'
import { startDemo } from './testing/start-demo.ts'

async function refusedStart(env: Record<string, string>): Promise<string> {
  const error = await startDemo(env).then(
    async (demo) => {
      await demo.stop()
      return null
    },
    (e: unknown) => e as Error,
  )
  expect(error, 'the demo should have refused to start').not.toBeNull()
  return error!.message
}

describe('start-up configuration', () => {
  it('refuses plain HTTP on a host that is not localhost (browsers would drop the __Host- cookies)', async () => {
    const message = await refusedStart({ HOST: '0.0.0.0' })
    expect(message).toMatch(/exited \(1\)/)
    expect(message).toMatch(/plain HTTP on a host that is not localhost/)
    expect(message).toMatch(/BASTION_PUBLIC_ORIGIN=https/)
  })

  it('refuses to start in production without BASTION_SECRET', async () => {
    expect(await refusedStart({ NODE_ENV: 'production' })).toMatch(/BASTION_SECRET is not set/)
  })

  it('refuses an allowed origin that is not an origin, and a lifetime that is not a number', async () => {
    expect(await refusedStart({ BASTION_ALLOWED_ORIGINS: 'https://app.example.com/path' })).toMatch(/is not an origin/)
    expect(await refusedStart({ BASTION_ACCESS_TTL: 'five minutes' })).toMatch(/BASTION_ACCESS_TTL must be a positive whole number/)
    expect(await refusedStart({ BASTION_PUBLIC_ORIGIN: 'http://bank.example.com' })).toMatch(/plain HTTP/)
  })

  it('serves https://localhost with a generated certificate when BASTION_HTTPS=1 (for Safari)', async () => {
    const demo = await startDemo({ BASTION_HTTPS: '1' })
    try {
      expect(demo.bankUrl).toMatch(/^https:\/\/localhost:\d+$/)
      const { status, cookies } = await new Promise<{ status: number; cookies: string[] }>((resolve, reject) => {
        // The certificate is self-signed for localhost: trusted here explicitly, as a developer accepts it once.
        request(`${demo.bankUrl}/auth/csrf`, { rejectUnauthorized: false }, (res) => {
          res.resume()
          resolve({ status: res.statusCode!, cookies: res.headers['set-cookie'] ?? [] })
        })
          .on('error', reject)
          .end()
      })
      expect(status).toBe(200)
      expect(cookies.some((c) => c.startsWith('__Host-csrf=') && /; Secure/.test(c))).toBe(true)
    } finally {
      expect(await demo.stop()).toBe(0)
    }
  })
})
