// `npm run dev`: the API (restarted when server.js changes) and the Vite dev server, together.
import { spawn } from 'node:child_process'
import { createServer } from 'vite'

const spaPort = Number(process.env.SPA_PORT ?? 5173)
const apiPort = process.env.PORT ?? '3000'
const env = { SPA_ORIGIN: `http://localhost:${spaPort}`, ...process.env }
// The SPA calls the API it was started with (read by Vite as import.meta.env.VITE_API_URL).
process.env.VITE_API_URL ??= `http://localhost:${apiPort}`
const api = spawn(process.execPath, ['--watch-path=server.js', 'server.js'], { stdio: 'inherit', env })
const vite = await createServer({ server: { port: spaPort, strictPort: true } })
await vite.listen()
vite.printUrls()

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  api.kill('SIGTERM')
  await vite.close()
}
api.on('exit', (code) => {
  if (!stopping) {
    console.error(`the API exited (${code}); stopping`)
    stop().then(() => process.exit(code ?? 1))
  } else process.exit(0)
})
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
