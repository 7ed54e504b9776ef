// The README's "Put an existing API behind Bastion", as run: this resource service, unchanged, behind Bastion's
// gateway. The browser sends only cookies to Bastion; the service sees only the bearer Bastion forwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type TestServer } from '../../../packages/server/src/testing/harness.ts'
import { deadPort } from '../../../packages/server/src/testing/upstream.ts'
import { startResourceService, type RunningService } from './server.ts'

let srv: TestServer
let service: RunningService

beforeAll(async () => {
  // The service's port is chosen first: Bastion's configuration names its upstream, the service names Bastion's JWKS.
  const port = await deadPort()
  const upstream = `http://127.0.0.1:${port}`
  srv = await startServer({ gateway: { upstream } })
  service = await startResourceService({ jwksUrl: `${srv.url}/.well-known/jwks.json`, issuer: 'bastion', audience: upstream, port, now: srv.clock.now })
})
afterAll(async () => {
  await service?.close()
  await srv?.close()
})

describe('the resource service behind the gateway', () => {
  it('a signed-in browser reads /gateway/orders with its cookies alone; the service verified the forwarded token by the JWKS', async () => {
    const b = srv.browser()
    const name = await srv.user()
    await b.signIn(name)
    const res = await b.get('/gateway/orders')
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({ user: { id: expect.any(String), username: name }, orders: [] })
    // The browser's own access token is not for this service (another audience): only the gateway's token works there.
    const direct = await fetch(`${service.url}/orders`, { headers: { Cookie: b.cookieHeader('/orders') } })
    expect(direct.status).toBe(401)
    expect((await srv.browser().get('/gateway/orders')).status).toBe(401)
  })
})
