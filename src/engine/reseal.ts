/**
 * `reseal`: new checksums for a backup that was edited by hand on purpose (issue #14 item 12).
 *
 * The format is meant to be readable, and a person may fix a value in it; the edited file then
 * fails its checksums, which is right (an accidental change must be caught). Resealing makes the
 * edit a deliberate act: the edited file is read whole (every record parsed, every rule of the
 * format checked except the checksums), and written again as a new file, with checksums of what
 * it now holds and a line in its metadata `warnings` that says it was resealed. The original is
 * left as it is. The new file carries no origin seal of this installation (DESIGN.md §7): what
 * was edited by hand is treated as foreign, so its definitions go through the strict path on
 * restore. Only the native layout carries checksums; plain and gzip files only (an encrypted file
 * cannot have been edited by hand).
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Engine, TableSchema } from '../adapters/adapter.js'
import { UsageError } from '../errors.js'
import { readBackup, type ReaderLimits } from '../format/reader.js'
import { BackupWriter } from '../format/writer.js'
import { createBackupFile, openBackupStream } from '../storage/backup-file.js'
import { scanBackup } from './backup-input.js'

export interface ResealOptions {
  /** The new file (default: beside the edited one, `<name>-resealed.json[.gz]`); never overwritten. */
  readonly out?: string
  readonly now?: Date
  /** Limits on what the file may hold (docs/security.md §Limits). */
  readonly limits?: Partial<ReaderLimits>
}

export interface ResealReport {
  readonly file: string
  readonly resealed: string
  readonly sha256: string
  readonly tables: Record<string, number>
}

/** The default name of a resealed copy: `x.json` → `x-resealed.json`, `x.json.gz` → `x-resealed.json.gz`. */
export function resealedName(file: string): string {
  const match = /^(.*?)(\.json(?:\.gz|\.zst)?)$/i.exec(file)
  return match ? `${match[1]}-resealed${match[2]}` : `${file}-resealed.json`
}

export async function reseal(file: string, options: ResealOptions = {}): Promise<ResealReport> {
  if (/\.enc$/i.test(file)) throw new UsageError(`${file} is encrypted: an encrypted backup cannot have been edited by hand, and is not resealed.`, { code: 'NOT_RESEALABLE' })
  // Structure and metadata (checksums not compared: they are what changed).
  const scan = await scanBackup(file, { verify: false, limits: options.limits })
  if (scan.layout !== 'mergeback') {
    throw new UsageError(`${file} is in the ${scan.layout} layout, which carries no checksums: it needs no resealing (restore and merge read it as it is).`, {
      code: 'NOT_RESEALABLE',
    })
  }
  const metadata = scan.metadata
  const gzip = metadata.compression === 'gzip' || /\.gz$/i.test(file)
  const zstd = !gzip && (metadata.compression === 'zstd' || /\.zst$/i.test(file))
  const out = path.resolve(options.out ?? resealedName(file))
  if (out === path.resolve(file)) throw new UsageError('reseal writes a new file: give --out another name than the edited file.', { code: 'BAD_FILE_NAME' })
  if (fs.existsSync(out)) throw new UsageError(`${out} exists: reseal never overwrites a file. Give another name with --out.`, { code: 'FILE_EXISTS' })
  const pending = await createBackupFile({ file: out }, { name: String(metadata.backupName ?? 'backup'), gzip, zstd, now: options.now })
  try {
    const exported = typeof metadata.exportedAt === 'string' && !Number.isNaN(Date.parse(metadata.exportedAt)) ? new Date(metadata.exportedAt) : undefined
    const writer = new BackupWriter(pending.stream, {
      engine: (metadata.engine as Engine | undefined) ?? 'postgres',
      database: String(metadata.database ?? ''),
      ...(typeof metadata.schema === 'string' ? { schema: metadata.schema } : {}),
      backupName: String(metadata.backupName ?? 'backup'),
      ...(typeof metadata.description === 'string' ? { description: metadata.description } : {}),
      compression: gzip ? 'gzip' : zstd ? 'zstd' : 'none',
      encryption: 'none',
      includesIndexes: metadata.includesIndexes !== false,
      ...(exported ? { now: exported } : {}),
    })
    const tables: Record<string, number> = {}
    const input = await openBackupStream(file, {})
    try {
      // Every record parsed: an edit that broke the JSON or a rule of the format fails here.
      for await (const event of readBackup(input, { verifyChecksums: false, computeChecksums: false, records: 'parsed', limits: options.limits })) {
        if (event.type === 'table') await writer.beginTable(event.table as TableSchema)
        else if (event.type === 'rows') await writer.writeRows(event.rows)
        else if (event.type === 'tableEnd') {
          tables[event.table] = event.count
          await writer.endTable()
        }
      }
    } finally {
      ;(input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.()
    }
    const previous = Array.isArray(metadata.warnings) ? metadata.warnings.filter((w): w is string => typeof w === 'string') : []
    const when = (options.now ?? new Date()).toISOString()
    const written = await writer.finish({
      warnings: [...previous, `Resealed by mergeback reseal at ${when}: edited by hand after it was written (from ${path.basename(file)}).`],
    })
    const committed = await pending.commit(written)
    return { file, resealed: committed.path, sha256: committed.sha256, tables }
  } catch (error) {
    await pending.abort()
    throw error
  }
}
