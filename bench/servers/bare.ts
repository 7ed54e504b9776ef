// The ceiling: node:http answering a constant JSON body.
import { createServer } from 'node:http'
import { listen } from './common.ts'

const body = JSON.stringify({ hello: 'world' })
listen(
  createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }),
)
