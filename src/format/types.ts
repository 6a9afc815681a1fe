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
  readonly compression: 'none' | 'gzip'
  readonly encryption?: 'none' | 'aes-256-gcm'
  /** Per table: "sha256:<hex>" over the canonical record text (docs/format.md §Checksums). */
  readonly checksums: Readonly<Record<string, string>>
  /** Whether indexes were saved (`--no-indexes` leaves them out). */
  readonly includesIndexes?: boolean
  readonly warnings?: readonly string[]
}

/** Which of the accepted layouts a file uses. */
export type BackupLayout =
  | 'mergeback' // DESIGN.md §3: tables[] with columns (types) first, metadata last
  | 'smart-backup' // seed 000: tables[] with tableName/primaryKey/records, no column types
  | 'mongo-native' // seed 002: metadata first, collections: { name: [docs] }

/**
 * What a reader yields, in file order. Rows come in batches; a table's rows always come between
 * its `table` and `tableEnd` events.
 */
export type BackupEvent =
  | { readonly type: 'table'; readonly table: TableSchema; readonly layout: BackupLayout }
  | { readonly type: 'rows'; readonly table: string; readonly rows: Row[]; readonly firstRecordIndex: number }
  | { readonly type: 'tableEnd'; readonly table: string; readonly count: number; readonly checksum: string }
  | { readonly type: 'metadata'; readonly metadata: Partial<BackupMetadata> & Record<string, unknown>; readonly layout: BackupLayout }
