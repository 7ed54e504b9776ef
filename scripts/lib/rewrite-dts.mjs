// tsc keeps a source's `./x.ts` specifiers in the declarations it emits; a
// consumer's TypeScript (any version, any moduleResolution) reads `./x.js`
// best, so they are rewritten to the JavaScript file beside the declaration.
// Same length (".ts" / ".js"), so declaration maps stay exact.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const SPECIFIER = /((?:from|import)\s*\(?\s*)(['"])(\.\.?\/[^'"]*?)\.tsx?\2/g

export function rewriteDeclarations(dir) {
  let files = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue
    const file = join(entry.parentPath ?? entry.path, entry.name)
    const text = readFileSync(file, 'utf8')
    const next = text.replace(SPECIFIER, (_, lead, q, path) => `${lead}${q}${path}.js${q}`)
    if (next !== text) writeFileSync(file, next)
    files++
  }
  return files
}
