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
