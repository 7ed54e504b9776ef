// Builds the browser bundles and enforces the core's size budget.
//   dist/index.js  the core (createAuthClient + axios installer), one self-contained ES module
//   dist/react.js, dist/vue.js  bindings, with react / vue left as imports
//   dist/axios.js  the axios installer alone (axios itself is the app's)
//   dist/*.d.ts (+ maps)  declarations, for every entry point
// Fails (exit 1) when the core exceeds BUDGET bytes minified + gzipped.
import { build } from 'esbuild'
import { readFileSync, rmSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { rewriteDeclarations } from '../../../scripts/lib/rewrite-dts.mjs'

// 3072 until device-bound sessions (2798 B measured then); the device key (IndexedDB, Web Crypto ES256 proof,
// DPoP-Nonce retry, reset at sign-out) costs about 800 B more, and nothing else may grow into it.
const BUDGET = 3648
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
rmSync(dist, { recursive: true, force: true })

const common = { bundle: true, format: 'esm', minify: true, target: 'es2020', platform: 'browser', legalComments: 'none', logLevel: 'warning' }

await build({ ...common, entryPoints: [join(root, 'src/index.ts')], outfile: join(dist, 'index.js') })
await build({
  ...common,
  entryPoints: [join(root, 'src/react.tsx'), join(root, 'src/vue.ts'), join(root, 'src/axios.ts')],
  outdir: dist,
  jsx: 'automatic',
  external: ['react', 'react/*', 'react-dom', 'vue'],
})

const core = readFileSync(join(dist, 'index.js'))
const bare = [...core.toString().matchAll(/\bfrom\s*["']([^"'./][^"']*)["']|\bimport\s*\(?\s*["']([^"'./][^"']*)["']/g)]
if (bare.length) {
  console.error(`dist/index.js has bare imports: ${bare.map((m) => m[1] ?? m[2]).join(', ')}`)
  process.exit(1)
}
const gz = gzipSync(core, { level: 9 }).length
console.log(`dist/index.js: ${core.length} B min, ${gz} B min+gzip (budget ${BUDGET} B)`)

// The declarations are part of the published package: a failure fails the build (after the size is printed).
const tsc = spawnSync(
  process.execPath,
  [
    join(root, '../../node_modules/typescript/bin/tsc'),
    '--declaration', '--declarationMap', '--emitDeclarationOnly', '--noEmit', 'false', '--rewriteRelativeImportExtensions',
    '--jsx', 'react-jsx', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
    '--lib', 'ES2023,DOM,DOM.Iterable', '--strict', '--skipLibCheck', '--types', 'node', '--verbatimModuleSyntax', '--isolatedModules',
    '--outDir', dist,
    join(root, 'src/index.ts'), join(root, 'src/react.tsx'), join(root, 'src/vue.ts'), join(root, 'src/axios.ts'),
  ],
  { stdio: 'inherit' },
)
if (tsc.status !== 0) {
  console.error('FAIL: type declarations were not emitted')
  process.exit(1)
}
rewriteDeclarations(dist)

if (gz > BUDGET) {
  console.error(`FAIL: core is ${gz - BUDGET} B over budget`)
  process.exit(1)
}
