// The demo bank itself (apps/demo): its real routes and SQLite ledger, behind
// the web-standard Node adapter (`nodeListener(composeHandler(bastion, bank))`),
// exactly as `npm start` serves them. Every request becomes a web Request and
// every answer a web Response.
import { createServer } from 'node:http'
import { join } from 'node:path'
import { nodeListener } from '@bastion/server/node'
import { composeHandler } from '@bastion/server/web'
import { createBankApp } from '../../apps/demo/src/bank.ts'
import { SecurityEvents } from '../../apps/demo/src/events.ts'
import { sqliteLedger } from '../../apps/demo/src/ledger.ts'
import { ALICE, benchBastion, benchDir, browserLogin, listen } from './common.ts'

const { bastion } = await benchBastion()
const ledger = sqliteLedger(join(benchDir(), 'bank.sqlite'))
for (const [name, balance] of [[ALICE.username, 1e15], ['mallory', 0]] as const) {
  const user = (await bastion.findUser(name))!
  await ledger.ensureAccount(user.id, user.username, balance)
}
const root = join(import.meta.dirname, '../..')
const bank = createBankApp({
  bastion,
  ledger,
  events: new SecurityEvents(),
  publicDir: join(root, 'apps/demo/public'),
  clientBundle: join(root, 'packages/client/dist/index.js'),
})
listen(createServer(nodeListener(composeHandler(bastion, bank))), (url) => browserLogin(url))
