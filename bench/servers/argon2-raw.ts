// The machine's raw argon2id rate, for the login scenario to be read against:
// `verify` of an OWASP-parameter hash (19 MiB, t=2, p=1; what a login does),
// through @node-rs/argon2 as Bastion calls it, CONCURRENCY at a time (the
// libuv threadpool's 4 threads by default), for BENCH_SECONDS. Prints one JSON line.
import { hash, verify } from '@node-rs/argon2'

const seconds = Number(process.env.BENCH_SECONDS ?? 3)
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4)
const params = { memoryCost: 19_456, timeCost: 2, parallelism: 1, algorithm: 2 as const }
const stored = await hash('alice-password-1', params)
await verify(stored, 'alice-password-1') // warm-up
let done = 0
const start = performance.now()
const deadline = start + seconds * 1000
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      if (!(await verify(stored, 'alice-password-1'))) throw new Error('argon2 verify failed')
      done++
    }
  }),
)
const elapsed = (performance.now() - start) / 1000
process.stdout.write(JSON.stringify({ ready: true, hashesPerSecond: done / elapsed, msPerHash: (elapsed * 1000 * concurrency) / done, concurrency }) + '\n')
