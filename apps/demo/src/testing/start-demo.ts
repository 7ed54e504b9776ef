/**
 * Starts the demo exactly as `npm start` does (`node --conditions=@bastion/source --import tsx
 * apps/demo/src/main.ts` from the repository root) on free ports, for the
 * tests that need the real process: the crash test, the start-up checks and
 * the browser suites.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (where `npm start` runs). */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../..')

export interface StartDemoOptions {
  /** Reuse this data directory (a restart); it is then left in place at stop. Default: a fresh temp dir, removed at stop. */
  dataDir?: string
  timeoutMs?: number
}

const READY = /Bastion demo bank listening on (\S+) \(attacker page on (\S+), data in (.+)\)/

export interface Demo {
  /** e.g. http://localhost:41234 */
  bankUrl: string
  /** e.g. http://127.0.0.1:41235 (another site than the bank) */
  attackerUrl: string
  dataDir: string
  /** Everything the server wrote so far (stdout and stderr), for failure messages. */
  output(): string
  /** SIGTERM, then the exit code (null if it died of a signal). Idempotent. */
  stop(): Promise<number | null>
  /** SIGKILL: no chance to finish anything (the crash test). */
  kill(): Promise<void>
}

/**
 * Starts the demo bank on a free port (PORT=0: the attacker page also gets a
 * free port) with a fresh (or the given) data directory, plus `env` (e.g. BASTION_ACCESS_TTL),
 * and resolves once the ready line is printed.
 */
export async function startDemo(env: Record<string, string> = {}, options: StartDemoOptions = {}): Promise<Demo> {
  const timeoutMs = options.timeoutMs ?? 30_000
  const ownDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'bastion-demo-'))
  const cleanup = (): void => {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true })
  }
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  // Nothing from the caller's shell may change which server starts.
  for (const name of ['ATTACKER_PORT', 'HOST', 'DATABASE_URL', 'REDIS_URL', 'BASTION_HTTPS', 'BASTION_SECRET', 'BASTION_PUBLIC_ORIGIN',
    'BASTION_ALLOWED_ORIGINS', 'BASTION_TRUST_PROXY', 'BASTION_ACCESS_TTL', 'BASTION_REFRESH_TTL', 'BASTION_REFRESH_GRACE',
    'BASTION_SESSION_MAX_AGE', 'NODE_ENV', 'BASTION_ACCESS_FORMAT', 'BASTION_GATEWAY_UPSTREAM', 'BASTION_GATEWAY_PREFIX', 'BASTION_GATEWAY_AUDIENCE',
    'BASTION_GATEWAY_MAX_BODY_BYTES', 'BASTION_GATEWAY_TIMEOUT_MS', 'BASTION_DEVICE_BINDING']) delete childEnv[name]
  Object.assign(childEnv, { PORT: '0', BASTION_DATA_DIR: dataDir }, env)

  const child = spawn(process.execPath, ['--conditions=@bastion/source', '--import', 'tsx', 'apps/demo/src/main.ts'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  let started = false
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      cleanup()
      reject(new Error(`the demo printed no ready line within ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    const onData = () => {
      const m = READY.exec(output)
      if (m) {
        clearTimeout(timer)
        child.stdout.off('data', onData)
        started = true
        resolve(m)
      }
    }
    child.stdout.on('data', onData)
    void exited.then((code) => {
      if (started) return // a later exit is stop()'s or kill()'s business
      clearTimeout(timer)
      cleanup() // a start that failed leaves no directory behind
      reject(new Error(`the demo exited (${code}) before it was ready:\n${output}`))
    })
  })

  let stopping: Promise<number | null> | undefined
  return {
    bankUrl: match[1]!,
    attackerUrl: match[2]!,
    dataDir,
    output: () => output,
    async kill() {
      process.off('exit', killOnExit)
      child.kill('SIGKILL')
      await exited
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
        const timeout = new Promise<'timeout'>((r) => setTimeout(r, 10_000, 'timeout').unref())
        const code = await Promise.race([exited, timeout])
        process.off('exit', killOnExit)
        if (code === 'timeout') {
          child.kill('SIGKILL')
          await exited
          cleanup()
          throw new Error(`the demo did not exit within 10 s of SIGTERM:\n${output}`)
        }
        cleanup()
        return code
      })()
      return stopping
    },
  }
}

