/**
 * The two layouts mergeback grew from (DESIGN.md §3, docs/format.md §Seed layouts), accepted by
 * the reader exactly as the seeds write them:
 *
 * - "Smart Backup" (seed 000): `tables[]` of `{tableName, primaryKey, records}` and a `metadata`
 *   of `{exportedAt, version, recordCounts}`. No column types. The reader cannot know a table's
 *   columns before its records, and will not hold a table in memory to find out, so it holds
 *   back only the first record: the columns are that record's keys in order, then any primary
 *   key column the record lacks, all `kind: 'unknown'` with `type: ''`. A later record may carry
 *   keys the first one did not; they stay in the rows, and destinations must look at each row's
 *   keys, not only at the header, for this layout. Values are left as JSON gave them, for the
 *   destination to convert to the target column types.
 *
 * - "native MongoDB" (seed 002): `metadata` first (`database, timestamp, backupName,
 *   description, version, collections, compression`), then `collections: {name: [docs]}`. Each
 *   collection becomes a table keyed by `_id`; documents stay as parsed JSON (relaxed or
 *   canonical Extended JSON) for the MongoDB adapter to decode.
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
  readonly compression: 'none' | 'gzip'
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
  readonly compression: 'none' | 'gzip'
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

/** The schema of a collection from a seed 002 file, which describes none: documents keyed by `_id`. */
export function mongoCollectionTable(name: string): TableSchema {
  return {
    name,
    columns: [{ name: '_id', type: '', kind: 'document', nullable: false }],
    primaryKey: ['_id'],
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
  }
}
