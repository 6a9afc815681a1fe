/**
 * Shapes of the backup file (docs/format.md, DESIGN.md §3) as the rest of the code sees them.
 */
import type { Engine, Row, TableSchema } from '../adapters/adapter.js'

/** The `metadata` object, written last in the native layout. */
export interface BackupMetadata {
  readonly format: 'mergeback'
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
  /** Instead of `rows`, when read with `records: 'lines'`: canonical record texts, each followed by `\n`. */
  | { readonly type: 'lines'; readonly table: string; readonly lines: Buffer; readonly count: number; readonly firstRecordIndex: number }
  /**
   * `schema`, for a table without column types (the seed layouts): its columns are the keys of all
   * its records in first-seen order, which the `table` event (sent at the first record) cannot know.
   */
  | { readonly type: 'tableEnd'; readonly table: string; readonly count: number; readonly checksum: string; readonly schema?: TableSchema }
  | { readonly type: 'metadata'; readonly metadata: Partial<BackupMetadata> & Record<string, unknown>; readonly layout: BackupLayout }
