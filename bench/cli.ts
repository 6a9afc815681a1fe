/**
 * The command-line shell the bench scripts share: options, `--help`, `--print FILE` of an earlier
 * run, the run itself, and exit codes (0 done, 1 the run failed, 2 bad options or an unreadable
 * results file). Each script brings only what differs: how it parses, prints and runs.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export interface BenchCli<Options, Print extends { print: string } = { print: string }> {
  usage: string
  /** The options, `'help'`, or `{ print }` to show an earlier run's results; throws on bad options. */
  parse(argv: string[]): Options | 'help' | Print
  /** The text of the results file(s) named by `--print`. */
  print(options: Print): string
  /** Runs the bench and returns what to show on stdout when it is done. */
  run(options: Options): Promise<string>
}

async function runCli<Options, Print extends { print: string }>(cli: BenchCli<Options, Print>, argv: string[]): Promise<number> {
  // Progress lines are best effort: a reader that goes away (`npm run bench | head`) must not kill
  // the bench before it has dropped its databases.
  process.stderr.on('error', () => {})
  process.stdout.on('error', () => {})
  let options
  try {
    options = cli.parse(argv)
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${cli.usage}\n`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(`${cli.usage}\n`)
    return 0
  }
  if (typeof options === 'object' && options !== null && 'print' in options) {
    const printed = options as Print
    try {
      process.stdout.write(cli.print(printed))
      return 0
    } catch (error) {
      process.stderr.write(`bench: cannot print ${printed.print}: ${(error as Error).message}\n`)
      return 2
    }
  }
  try {
    process.stdout.write(await cli.run(options as Options))
    return 0
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`)
    return 1
  }
}

/** Runs `cli` when `moduleUrl` is the script node was started with (not when it is imported). */
export async function runIfMain<Options, Print extends { print: string }>(moduleUrl: string, cli: BenchCli<Options, Print>): Promise<void> {
  if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(moduleUrl)) {
    process.exitCode = await runCli(cli, process.argv.slice(2))
  }
}

/** A path as the user would type it from here. */
export function relativePath(file: string): string {
  return path.relative(process.cwd(), file) || file
}
