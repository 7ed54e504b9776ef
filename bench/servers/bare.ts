// The ceiling: node:http answering a constant JSON body.
import { createServer } from 'node:http'

const body = JSON.stringify({ hello: 'world' })
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(JSON.stringify({ ready: true, url: `http://127.0.0.1:${port}` }) + '\n')
})
process.on('SIGTERM', () => process.exit(0))
