/**
 * Shapes of the backup file (docs/format.md, DESIGN.md §3) as the rest of the code sees them.
 */
import type { Engine, Row, TableSchema } from '../adapters/adapter.js'

/** The `metadata` object, written last in the native layout. */
export interface BackupMetadata {
  /** 'mergeback-incremental' for a link of a chain (an incremental backup, `incremental` set). */
  readonly format: 'mergeback' | 'mergeback-incremental'
  readonly version: string
  /** The mergeback version that wrote the file. */
  readonly tool?: string
  readonly exportedAt: string
  readonly engine: Engine
  readonly database: string
  readonly schema?: string
  readonly backupName: string
  readonly description?: string
  /** Table names in file order. */
  readonly tables: readonly string[]
  readonly recordCounts: Readonly<Record<string, number>>
  readonly compression: 'none' | 'gzip' | 'zstd'
  readonly encryption?: 'none' | 'aes-256-gcm'
  /** Per table: "sha256:<hex>" over the canonical record text (docs/format.md §Checksums). */
  readonly checksums: Readonly<Record<string, string>>
  /** Whether indexes were saved (`--no-indexes` leaves them out). */
  readonly includesIndexes?: boolean
  readonly warnings?: readonly string[]
  /** "hmac-sha256:<hex>": the origin seal of the installation that wrote it (crypto/origin-seal.ts). */
  readonly seal?: string
  /** Set in an incremental backup only (docs/format.md §Incremental backups). */
  readonly incremental?: IncrementalInfo
}

/** A link of a chain: what an incremental backup holds beyond the native layout. */
export interface IncrementalInfo {
  /** The backup this one holds the changes since: its file name (same directory), backup name and SHA-256 of its bytes as stored. */
  readonly parent: { readonly file: string; readonly name: string; readonly sha256: string; readonly exportedAt?: string }
  /** The chain's full backup. */
  readonly base: { readonly file: string; readonly sha256: string }
  /** 1 for the first increment after the full backup, 2 for the next, … */
  readonly depth: number
  /** Tables carried whole (new since the parent, key or columns changed, or no key): they replace what earlier links hold. */
  readonly replaced: readonly string[]
  /** Per table: the keys (arrays of key wire values) of the rows deleted since the parent. */
  readonly deleted: Readonly<Record<string, readonly (readonly unknown[])[]>>
  /** Per table: how many rows it has in the state this increment completes (the final record counts of its chain). */
  readonly rowCounts: Readonly<Record<string, number>>
  /** How changes were found: 'digest' (every row compared), or a timestamp column the user named. */
  readonly detection: 'digest' | { readonly changedSinceColumn: string; readonly since: string }
}

/** Which of the accepted layouts a file uses. */
export type BackupLayout =
  | 'mergeback' // DESIGN.md §3: tables[] with columns (types) first, metadata last
  | 'smart-backup' // seed 000: tables[] with tableName/primaryKey/records, no column types
  | 'mongo-native' // seed 002: metadata first, collections: { name: [docs] }

/**
 * What a reader yields: tables in file order, a table's rows (in batches) always between its
 * `table` and `tableEnd` events, and `metadata` always last, whatever the layout (in mongo-native
 * files the metadata comes first in the file, and is reported last with the `summary` merged in).
 * `metadata` is only yielded once counts, checksums and the format version are verified, so a
 * consumer that writes rows as they come must not commit before it (docs/format.md §Checksums).
 */
export type BackupEvent =
  | { readonly type: 'table'; readonly table: TableSchema; readonly layout: BackupLayout }
  | { readonly type: 'rows'; readonly table: string; readonly rows: Row[]; readonly firstRecordIndex: number }
  /** Instead of `rows`, when read with `records: 'lines'`: canonical record texts, each followed by `\n` (or their conversion, ReadBackupOptions.convertLines). */
  | { readonly type: 'lines'; readonly table: string; readonly lines: Buffer; readonly count: number; readonly firstRecordIndex: number }
  /**
   * `schema`, for a table without column types (the seed layouts): its columns are the keys of all
   * its records in first-seen order, which the `table` event (sent at the first record) cannot know.
   */
  | { readonly type: 'tableEnd'; readonly table: string; readonly count: number; readonly checksum: string; readonly schema?: TableSchema }
  | { readonly type: 'metadata'; readonly metadata: Partial<BackupMetadata> & Record<string, unknown>; readonly layout: BackupLayout }
