import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { ARTIFACTS, ROOT } from './paths.ts'

/** Builds the browser client once (dist/index.js is what the demo serves as /assets/bastion-client.js). */
export default function setup(): void {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const r = spawnSync(npm, ['run', 'build', '--silent'], { cwd: ROOT, encoding: 'utf8' })
  if (r.status !== 0) {
    throw new Error(`npm run build failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`)
  }
  mkdirSync(ARTIFACTS, { recursive: true })
}
