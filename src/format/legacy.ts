/**
 * The two layouts mergeback grew from (DESIGN.md §3, docs/format.md §Seed layouts), accepted by
 * the reader exactly as the seeds write them:
 *
 * - "Smart Backup" (seed 000): `tables[]` of `{tableName, primaryKey, records}` and a `metadata`
 *   of `{exportedAt, version, recordCounts}`. No column types. The reader cannot know a table's
 *   columns before its records, and will not hold a table in memory to find out, so its `table`
 *   event (sent at the first record) names that record's keys in order, then any primary key
 *   column the record lacks, all `kind: 'unknown'` with `type: ''`; and its `tableEnd` event
 *   carries the table's full schema when later records had more keys: every key of every record,
 *   in first-seen order (`widenedTable`). Restore and merge take the schemas from a first pass
 *   over the whole file (engine/backup-input.ts `scanBackup`), so they see every column: a field
 *   only some records have is never dropped, and a table created from the file has it.
 *   Values are left as JSON gave them, for the destination to convert to the target column
 *   types; an integer beyond a double's precision is kept exactly (reader.ts `#number`).
 *
 * - "native MongoDB" (seed 002): `metadata` first (`database, timestamp, backupName,
 *   description, version, collections, compression`), then `collections: {name: [docs]}`. Each
 *   collection is read like a Smart Backup table keyed by `_id`: its columns are its documents'
 *   top-level fields. Into MongoDB the documents go whole (relaxed or canonical Extended JSON,
 *   decoded by the MongoDB adapter; merge compares fields the current collection does not
 *   describe as documents); into a SQL database each field is a column, so a CRM file restored
 *   into PostgreSQL, MariaDB or SQLite keeps every field.
 *
 * mergeback also writes the second layout for MongoDB backups (writer option `layout:
 * 'mongo-native'`), adding its own fields to the metadata head (`format`, `collectionSchemas`,
 * …) and a `summary` trailer with the counts and checksums it only knows at the end. Both are
 * ignored by the seed's own reader, which looks at `metadata` and `collections` only.
 */
import type { ColumnSchema, Row, TableSchema } from '../adapters/adapter.js'
import { FORMAT_VERSION, VERSION } from '../version.js'

/** What the mongo-native metadata head holds: seed 002's fields first, then mergeback's. */
export interface MongoNativeHead {
  readonly database: string
  /** Seed 002's name for `exportedAt`. */
  readonly timestamp: string
  readonly backupName: string
  readonly description?: string
  readonly version: string
  /** Seed 002's name for `tables`. */
  readonly collections: readonly string[]
  readonly compression: 'none' | 'gzip' | 'zstd'
  readonly format: 'mergeback'
  readonly tool: string
  readonly exportedAt: string
  readonly engine: 'mongodb'
  readonly tables: readonly string[]
  readonly encryption: 'none' | 'aes-256-gcm'
  readonly includesIndexes: boolean
  /** Table headers (as in the native layout, without records), so the schema precedes the documents. */
  readonly collectionSchemas: readonly Record<string, unknown>[]
}

/** Builds the metadata head the writer puts first in a mongo-native file. */
export function mongoNativeHead(facts: {
  readonly database: string
  readonly exportedAt: string
  readonly backupName: string
  readonly description?: string
  readonly compression: 'none' | 'gzip' | 'zstd'
  readonly encryption: 'none' | 'aes-256-gcm'
  readonly includesIndexes: boolean
  readonly tables: readonly string[]
  readonly tableHeaders: readonly Record<string, unknown>[]
}): MongoNativeHead {
  return {
    database: facts.database,
    timestamp: facts.exportedAt,
    backupName: facts.backupName,
    ...(facts.description === undefined ? {} : { description: facts.description }),
    version: FORMAT_VERSION,
    collections: facts.tables,
    compression: facts.compression,
    format: 'mergeback',
    tool: VERSION,
    exportedAt: facts.exportedAt,
    engine: 'mongodb',
    tables: facts.tables,
    encryption: facts.encryption,
    includesIndexes: facts.includesIndexes,
    collectionSchemas: facts.tableHeaders,
  }
}

/** A column the file gives no type for: restored by converting to the target column's type. */
function untypedColumn(name: string, nullable: boolean): ColumnSchema {
  return { name, type: '', kind: 'unknown', nullable }
}

/**
 * The schema of a Smart Backup table, from its header and its first record (undefined for an
 * empty table): columns are the record's keys in order, then primary key columns it lacks.
 */
export function smartBackupTable(
  header: Pick<TableSchema, 'name' | 'primaryKey' | 'uniqueConstraints' | 'indexes' | 'foreignKeys' | 'options'>,
  firstRecord: Row | undefined,
): TableSchema {
  const names = firstRecord === undefined ? [] : Object.keys(firstRecord)
  for (const key of header.primaryKey) if (!names.includes(key)) names.push(key)
  return {
    name: header.name,
    columns: names.map((name) => untypedColumn(name, !header.primaryKey.includes(name))),
    primaryKey: header.primaryKey,
    uniqueConstraints: header.uniqueConstraints,
    indexes: header.indexes,
    foreignKeys: header.foreignKeys,
    ...(header.options === undefined ? {} : { options: header.options }),
  }
}

/**
 * The header of a collection from a seed 002 file, which describes none: keyed by `_id`, its
 * columns are its documents' fields (see smartBackupTable and widenedTable).
 */
export function mongoCollectionTable(name: string): TableSchema {
  return {
    name,
    columns: [],
    primaryKey: ['_id'],
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
  }
}

/** An untyped table's schema with a column for every one of `keys` (all its records' fields, first-seen order). */
export function widenedTable(schema: TableSchema, keys: ReadonlySet<string>): TableSchema {
  const known = new Set(schema.columns.map((column) => column.name))
  const added = [...keys].filter((key) => !known.has(key)).map((key) => untypedColumn(key, true))
  return { ...schema, columns: [...schema.columns, ...added] }
}
