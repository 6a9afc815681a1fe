/**
 * How files in a backup directory are named (docs/storage.md §Layout).
 *
 *   <name>-YYYY-MM-DDTHH-mm-ss.json[.gz|.zst][.enc]   a backup (time in UTC, colons replaced so the name
 *                                                is valid on every filesystem)
 *   <name>-YYYY-MM-DDTHH-mm-ss.pgdump[.gz][.enc] a full native backup (docs/operations.md §Full backups):
 *                            .sql[.gz][.enc]       pg_dump -Fc, mariadb-dump SQL text, a SQLite database file
 *                            .sqlite[.gz][.enc]
 *   <backup file>.meta.json                      its catalog sidecar
 *   .tmp-<random>.partial                        a file being written; never listed, never pruned
 *   audit.jsonl / audit.jsonl.lock               the audit log and its append lock
 *
 * The name part is restricted to letters, digits, '.', '_' and '-' and starts with a letter or a
 * digit, so a name can never be a path, a dot file or a temporary file.
 */
import { UsageError } from '../errors.js'

export const SIDECAR_SUFFIX = '.meta.json'
export const TEMP_PREFIX = '.tmp-'
export const TEMP_SUFFIX = '.partial'

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/
const FILE_PATTERN = /^(?<name>[A-Za-z0-9][A-Za-z0-9._-]*)-(?<stamp>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2})\.(?<format>json|pgdump|sql|sqlite)(?:(?<gz>\.gz)|(?<zst>\.zst))?(?<enc>\.enc)?$/

/**
 * What a backup file holds, by the extension before `.gz` / `.enc`: `json` is mergeback's own
 * format (a smart backup); the others are full native backups, the engine's own complete dump.
 */
export type BackupDataFormat = 'json' | 'pgdump' | 'sql' | 'sqlite'

/** The data format a backup file name claims (`x.pgdump.gz.enc` → 'pgdump'), or undefined for a name that is no backup. */
export function dataFormatOf(fileName: string): BackupDataFormat | undefined {
  return /\.(json|pgdump|sql|sqlite)(\.gz|\.zst)?(\.enc)?$/.exec(fileName)?.[1] as BackupDataFormat | undefined
}

/** Throws UsageError unless `name` is a valid backup name (1–100 characters of [A-Za-z0-9._-], not starting with '.', '_' or '-'). */
export function checkBackupName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(
      `Invalid backup name ${JSON.stringify(name)}: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
      { code: 'BAD_NAME' },
    )
  }
}

/** `2026-11-22T10:30:05.123Z` → `2026-11-22T10-30-05` (UTC, seconds). */
export function fileTimestamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/:/g, '-')
}

/** The file name of a backup: `<name>-YYYY-MM-DDTHH-mm-ss.<format>[.gz|.zst][.enc]` (format `json` by default). Throws UsageError for a bad name. */
export function backupFileName(name: string, createdAt: Date, options: { gzip: boolean; zstd?: boolean; encrypted: boolean; format?: BackupDataFormat }): string {
  checkBackupName(name)
  const compressed = options.gzip ? '.gz' : options.zstd ? '.zst' : ''
  return `${name}-${fileTimestamp(createdAt)}.${options.format ?? 'json'}${compressed}${options.encrypted ? '.enc' : ''}`
}

export interface ParsedBackupFileName {
  readonly name: string
  /** The time in the name, to the second (UTC). */
  readonly createdAt: Date
  /** What the suffixes claim; readers still go by the magic bytes. */
  readonly gzip: boolean
  readonly zstd: boolean
  readonly encrypted: boolean
  readonly format: BackupDataFormat
}

/** Parses a file name made by `backupFileName`; undefined for anything else (including impossible dates). */
export function parseBackupFileName(fileName: string): ParsedBackupFileName | undefined {
  const match = FILE_PATTERN.exec(fileName)
  if (!match?.groups) return undefined
  const { name, stamp, gz, zst, enc, format } = match.groups as { name: string; stamp: string; gz?: string; zst?: string; enc?: string; format: BackupDataFormat }
  const iso = `${stamp.slice(0, 10)}T${stamp.slice(11).replace(/-/g, ':')}Z`
  const createdAt = new Date(iso)
  // Date accepts 2026-02-30 by rolling over; a round trip rejects it.
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString().slice(0, 19) + 'Z' !== iso) return undefined
  return { name, createdAt, gzip: gz !== undefined, zstd: zst !== undefined, encrypted: enc !== undefined, format }
}

/**
 * A data file a backup directory may hold: `*.json`, `*.json.gz`, `*.json.zst`, `*.json.enc`, `*.json.gz.enc`, `*.json.zst.enc`,
 * and the same for full backups (`*.pgdump`, `*.sql`, `*.sqlite`); not a sidecar or a dot file.
 * Full backups count only when named by the naming rule: a stray `notes.sql` is not a backup.
 */
export function isBackupDataFileName(fileName: string): boolean {
  if (fileName.startsWith('.') || fileName.endsWith(SIDECAR_SUFFIX)) return false
  if (/\.json(\.gz|\.zst)?(\.enc)?$/.test(fileName)) return true
  return parseBackupFileName(fileName) !== undefined
}

/** A temporary file of a write in progress (or of one that crashed). */
export function isTemporaryFileName(fileName: string): boolean {
  return fileName.startsWith(TEMP_PREFIX) && fileName.endsWith(TEMP_SUFFIX)
}

/** The catalog sidecar's path for a backup file path. */
export function sidecarPathFor(file: string): string {
  return `${file}${SIDECAR_SUFFIX}`
}
