import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** The repository root (where `npm start` runs). */
export const ROOT = resolve(here, '..')
/** Screenshots written by the suite. */
export const ARTIFACTS = join(here, 'artifacts')
