/**
 * `npm start` of the example (see config.ts for the environment variables):
 * one line when ready, a clean exit on SIGTERM / SIGINT, exit 1 with a
 * message when the configuration is wrong.
 */
import { optionsFromEnv } from './config.ts'
import { startResourceService } from './server.ts'

async function main(): Promise<void> {
  let options: ReturnType<typeof optionsFromEnv>
  let service: Awaited<ReturnType<typeof startResourceService>>
  try {
    options = optionsFromEnv(process.env)
    service = await startResourceService(options)
  } catch (e) {
    process.stderr.write(`resource service: cannot start: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  }
  process.stdout.write(`resource service listening on ${service.url} (GET /orders; keys from ${options.jwksUrl})\n`)
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    service.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

await main()
