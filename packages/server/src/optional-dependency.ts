import { createRequire } from 'node:module'
import { ConfigError } from './errors.ts'

const require = createRequire(import.meta.url)

/**
 * Loads a driver the application installs itself (`pg`, `ioredis`: optional
 * peer dependencies, so a team on SQLite compiles and downloads neither).
 * Loaded on first use, synchronously, so importing an entry point that names
 * a driver costs nothing until a store is made. A missing driver stops the
 * start with a message naming the package to install.
 */
export function requireOptional<T>(name: string, feature: string): T {
  try {
    return require(name) as T
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if ((err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_MODULE_NOT_FOUND') && err.message.includes(`'${name}'`)) {
      throw new ConfigError(`${feature} needs the "${name}" package, which is not installed. Install it in your app: npm install ${name}`)
    }
    throw e
  }
}
