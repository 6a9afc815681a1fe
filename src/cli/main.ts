/**
 * `mergeback` — the command line (DESIGN.md §6).
 *
 * Each verb lives in `commands/<verb>.ts` and exports `register(program)`. Errors from any verb
 * come back here and are mapped to an exit code in one place (`exit-codes.ts`); with `--json` the
 * error is printed as a JSON document on stdout so scripts always get one.
 */
import { Command, CommanderError } from 'commander'
import { errorDocument, errorLine, exitCodeFor, EXIT_BAD_INPUT } from './exit-codes.js'
import { COMMANDS } from './commands/index.js'
import { VERSION } from '../version.js'
import { takeExitCode } from './common.js'

export function buildProgram(): Command {
  const program = new Command('mergeback')
    .description('Back up a database into a portable JSON file, restore it, and merge it back safely.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run mergeback --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  for (const register of COMMANDS) register(program)
  return program
}

/** Runs the CLI and returns the exit code (never calls process.exit, so tests can call it). */
export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json')
  const program = buildProgram()
  try {
    await program.parseAsync([...argv])
    return takeExitCode()
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with exit code 0; bad usage with commander's message already printed.
      if (error.exitCode === 0) return 0
      if (json) process.stdout.write(`${JSON.stringify({ success: false, error: error.message, code: 'USAGE', details: {} }, null, 2)}\n`)
      return EXIT_BAD_INPUT
    }
    if (json) process.stdout.write(`${JSON.stringify(errorDocument(error), null, 2)}\n`)
    else process.stderr.write(`${errorLine(error)}\n`)
    return exitCodeFor(error)
  }
}
