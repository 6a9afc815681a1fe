/**
 * Options every command shares, and the glue between commander and `Output`.
 */
import { Option, type Command } from 'commander'
import { createOutput, type Output } from './output.js'
import { UsageError } from '../errors.js'

/** Options commander hands to an action: the flags of the command, with their declared names. */
export type Flags = Record<string, unknown>

/** Adds --json (every command has it). */
export function withJson(command: Command): Command {
  return command.option('--json', 'print one JSON document on stdout and nothing else there')
}

/** Adds --db (default: env DATABASE_URL) and --schema. */
export function withDb(command: Command): Command {
  return command
    .addOption(new Option('--db <url>', 'database URL (default: env DATABASE_URL)'))
    .option('--schema <name>', 'PostgreSQL schema (default: public)')
}

/** Adds --tables / --exclude. */
export function withTableSelection(command: Command): Command {
  return command
    .option('--tables <names>', 'only these tables/collections (comma-separated)')
    .option('--exclude <names>', 'leave out these tables/collections (comma-separated)')
}

/** Adds --dir (default env MERGEBACK_DIR, then ./backups) and --passphrase-file. */
export function withStorage(command: Command): Command {
  return command
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
    .option('--passphrase-file <file>', 'read the encryption passphrase from this file (or set MERGEBACK_PASSPHRASE)')
}

export function outputFor(flags: Flags): Output {
  return createOutput({ json: Boolean(flags.json) })
}

export function dbUrlFrom(flags: Flags): string {
  const url = (flags.db as string | undefined) ?? process.env.DATABASE_URL
  if (!url) throw new UsageError('No database given: pass --db URL or set DATABASE_URL.', { code: 'NO_DATABASE' })
  return url
}

export function backupDirFrom(flags: Flags): string {
  return (flags.dir as string | undefined) ?? process.env.MERGEBACK_DIR ?? 'backups'
}

/** "a, b,c" → ["a","b","c"]; undefined stays undefined. */
export function parseList(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined
  const items = String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return items.length ? items : undefined
}

export function parseNonNegativeInt(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a whole number ≥ 0, got ${JSON.stringify(value)}.`)
  return n
}

let requestedExitCode = 0

/** Lets a command that printed its report end with a non-zero exit code (e.g. verify of a damaged file). */
export function setExitCode(code: number): void {
  requestedExitCode = code
}

/** Read and reset by main() after the command finished. */
export function takeExitCode(): number {
  const code = requestedExitCode
  requestedExitCode = 0
  return code
}

/** Draws engine progress events on a terminal. */
export function progressDrawer(output: import('./output.js').Output): (event: import('../engine/progress.js').ProgressEvent) => void {
  let bar: import('./output.js').Progress | undefined
  return (event) => {
    if (event.type === 'table') {
      bar?.done()
      bar = output.progress(event.table, event.records)
    } else if (event.type === 'rows') bar?.tick(event.rows)
    else if (event.type === 'phase') {
      bar?.done()
      bar = undefined
    }
  }
}

/**
 * The backup a command names: a path as given (the CLI user may name any file they can read), or
 * else a name inside the backup directory, resolved safely by `resolveBackupPath` (no escaping
 * the directory). A name that leads nowhere is a NotFoundError (exit 2).
 */
export async function locateBackup(flags: Flags, nameOrPath: string): Promise<string> {
  const fs = await import('node:fs')
  const { resolveBackupPath } = await import('../storage/backup-file.js')
  const resolved = resolveBackupPath(backupDirFrom(flags), nameOrPath, { allowOutside: true })
  if (!fs.existsSync(resolved) || !fs.statSync(resolved).isFile()) {
    const { NotFoundError } = await import('../errors.js')
    throw new NotFoundError(`No backup file ${nameOrPath}: it is neither a file nor a backup in ${backupDirFrom(flags)} (see mergeback list).`)
  }
  return resolved
}
