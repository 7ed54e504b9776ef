// Builds what `npm pack` ships: dist/ from src/ with tsc (ESM + .d.ts + maps),
// and makes the `bastion` command executable.
import { chmodSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rewriteDeclarations } from '../../../scripts/lib/rewrite-dts.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
rmSync(join(root, 'dist'), { recursive: true, force: true })
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
if (r.status !== 0) process.exit(r.status ?? 1)
rewriteDeclarations(join(root, 'dist'))
chmodSync(join(root, 'dist/cli/bin.js'), 0o755)
