/**
 * What every `bastion` command gets from the outside world, so that tests run
 * a command in-process with their own environment and collect its output.
 */
export interface CliIo {
  /** The environment the server would read (DATABASE_URL, BASTION_*, …). */
  env: NodeJS.ProcessEnv
  /** One line of the command's result, to stdout. */
  out(line: string): void
  /** One line of diagnostics, to stderr. */
  err(line: string): void
}

/**
 * A command: its arguments after the command's own name(s), and its exit code
 * (0 ok, 1 a check failed or the operation failed, 2 usage error).
 */
export type Command = (args: string[], io: CliIo) => Promise<number>

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
