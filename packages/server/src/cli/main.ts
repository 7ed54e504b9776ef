/**
 * `bastion <command>` (`npx bastion` where @bastion/server is installed;
 * `npm run bastion --` in this repository). Every command reads the same
 * environment as the server (DATABASE_URL or BASTION_DATA_DIR,
 * BASTION_SECRET, REDIS_URL, BASTION_PUBLIC_ORIGIN, …), so it acts on the
 * deployment it runs beside.
 */
import { BastionError, ConfigError, StoreUnavailableError } from '../errors.ts'
import { audit } from './audit.ts'
import { doctor } from './doctor.ts'
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIo, type Command } from './io.ts'
import { keys } from './keys.ts'
import { migrate } from './migrate.ts'
import { prune } from './prune.ts'
import { sessions } from './sessions.ts'

export const USAGE = `usage: bastion <command> [options]

commands:
  keys list | keys rotate [--activate-in <s>]   signing keys: list them, rotate (staged)
  prune                                         delete sessions that ended more than a day ago
  migrate                                       apply the store's migrations and exit
  sessions revoke --user <name>                 sign a user out everywhere
  doctor [--url <url>] [--json]                 why a browser would drop or not send the cookies
  audit <url> [--username u --password p] [--json]
                                                black-box security report card of a deployment

\`bastion <command> --help\` for a command's options. Exit codes: 0 ok, 1 failed (or a
check failed), 2 usage. The environment is the server's: DATABASE_URL or BASTION_DATA_DIR,
BASTION_SECRET, REDIS_URL, BASTION_PUBLIC_ORIGIN, BASTION_ALLOWED_ORIGINS, …`

const COMMANDS: Record<string, Command> = { keys, prune, migrate, sessions, doctor, audit }

/** Runs one command line; resolves to its exit code. Errors a user can act on are printed, not thrown. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = args
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    ;(name === undefined ? io.err : io.out)(USAGE)
    return name === undefined ? EXIT_USAGE : EXIT_OK
  }
  const command = COMMANDS[name]
  if (!command) {
    io.err(`bastion: unknown command "${name}"\n\n${USAGE}`)
    return EXIT_USAGE
  }
  try {
    return await command(rest, io)
  } catch (e) {
    // Configuration, a store that is down, a secret that does not match: one line, no stack.
    if (e instanceof ConfigError || e instanceof StoreUnavailableError || e instanceof BastionError) {
      io.err(`bastion ${name}: ${e.message}`)
      return EXIT_FAILED
    }
    throw e
  }
}

/** The process entry point: real stdout/stderr and environment, then exit with the code. */
export function main(argv: string[]): void {
  const io: CliIo = {
    env: process.env,
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
  }
  run(argv, io).then(
    (code) => {
      process.exitCode = code
      // A driver that keeps a socket open must not keep a finished command alive.
      setTimeout(() => process.exit(code), 2_000).unref()
    },
    (e: unknown) => {
      process.stderr.write(`bastion: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
      process.exitCode = EXIT_FAILED
    },
  )
}
