/**
 * Options every command shares, and the glue between commander and `Output`.
 */
import { Option, type Command } from 'commander'
import { createOutput, type Output } from './output.js'
import { UsageError } from '../errors.js'
import { LIMIT_SOURCES, type ReaderLimits } from '../format/reader.js'

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

/**
 * Adds the reader's limits (docs/security.md §Limits): --max-depth, --max-record-bytes,
 * --max-tables, --max-columns, --max-decompressed-bytes. Unset, each comes from its environment
 * variable (MERGEBACK_MAX_…), else its default.
 */
export function withLimits(command: Command): Command {
  for (const source of LIMIT_SOURCES) {
    const what = LIMIT_HELP[source.key]
    command.option(`${source.flag} <n>`, `${what} (default: env ${source.env}, else ${Number.isFinite(source.fallback) ? source.fallback : 'no limit'})`)
  }
  return command
}

const LIMIT_HELP: Record<keyof ReaderLimits, string> = {
  maxDepth: 'refuse a backup nested deeper than this',
  maxRecordBytes: 'refuse a record (or header, or metadata) longer than this many bytes; sizes like 64MiB',
  maxTables: 'refuse a backup with more tables than this',
  maxColumns: 'refuse a table with more columns than this',
  maxDecompressedBytes: 'refuse a backup whose JSON text is longer than this many bytes (gzip bombs); sizes like 20GiB',
}

/** The limits the flags of `withLimits` give (only those given). A bad value is a UsageError naming the flag. */
export function limitsFrom(flags: Flags): Partial<ReaderLimits> {
  const limits: Partial<Record<keyof ReaderLimits, number>> = {}
  for (const source of LIMIT_SOURCES) {
    const value = flags[source.key]
    if (value === undefined) continue
    const match = /^(\d+)\s*([kmgt]i?b?)?$/i.exec(String(value).trim())
    const unit = (match?.[2] ?? '').toLowerCase().replace(/i?b$/, '')
    const n = match ? Number(match[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] ?? 1) : Number.NaN
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`${source.flag} must be a positive whole number${source.key.endsWith('Bytes') ? ' (or a size such as 64MiB)' : ''}, got ${JSON.stringify(value)}.`)
    }
    limits[source.key] = n
  }
  return limits
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

/** `--jobs`: a whole number from 1 to 16 (default `fallback`): the database sessions a backup or restore may use at once. */
export function jobsFrom(flags: { readonly jobs?: unknown }, fallback = 2): number {
  const jobs = parseNonNegativeInt('--jobs', flags.jobs) ?? fallback
  if (jobs < 1 || jobs > 16) throw new UsageError(`--jobs must be from 1 to 16, got ${JSON.stringify(flags.jobs)}.`)
  return jobs
}
