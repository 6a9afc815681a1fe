/**
 * Describing a MongoDB database: collections, views, indexes and statistics.
 *
 * Documents are schemaless, so a collection's TableSchema has one pseudo-column, `_id`
 * (`kind: 'document'`, `type` the BSON type of its values: "objectId", "string", … or "mixed"),
 * and the primary key `['_id']`. Rows carry every field of their document; the columns do not
 * list them (docs/mongodb.md, "Schema"). Everything else about a collection is in
 * `TableSchema.options` (mongodb-indexes.ts): its type (collection, timeseries, view), its
 * options, a view's definition. Indexes other than `_id_` are `indexes`, unique ones included
 * (`uniqueConstraints` stays empty: MongoDB has only indexes).
 *
 * Left out: `system.*` collections (profiler, stored JavaScript, time-series buckets, the
 * views catalogue) and mergeback's own `__mergeback_*` collections (the undo journal).
 *
 * `listCollections`, `listIndexes`, `dbStats` and `$collStats` cannot run in a snapshot, so the
 * description is read at the time describe() is called, outside the read snapshot.
 */
import { MongoServerError, type Db } from 'mongodb'
import type { ColumnSchema, ConnectionConfig, DatabaseSchema, DatabaseStats, TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { collectionType, ID_INDEX_NAME, indexFromSpec, tableOptionsFromListing, type CollectionListing } from './mongodb-indexes.js'
import { INTERNAL_PREFIX } from './mongodb-journal.js'
import { errorCode, type Topology } from './mongodb-connection.js'
import { bsonTypeName, type BsonDocument } from './mongodb-values.js'

/** Whether a collection belongs to the user (not `system.*`, not mergeback's own). */
export function isUserCollection(name: string): boolean {
  return !name.startsWith('system.') && !name.startsWith(INTERNAL_PREFIX)
}

/** The user's collections and views, sorted by name (listCollections with their options). */
export async function listUserCollections(db: Db): Promise<CollectionListing[]> {
  const listed = (await db.listCollections({}, { nameOnly: false }).toArray()) as unknown as CollectionListing[]
  return listed.filter((listing) => isUserCollection(listing.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/**
 * Describes the database (or only `tables`: a name that is not a user collection or view is a
 * UsageError listing what exists). `warnings` are passed through into the schema. `db` must read
 * BSON exactly (MongoConnection.documents): options and index definitions keep their types.
 */
export async function describeDatabase(
  db: Db,
  config: ConnectionConfig,
  options: { readonly tables?: readonly string[]; readonly warnings?: readonly string[] } = {},
): Promise<DatabaseSchema> {
  let listings = await listUserCollections(db)
  if (options.tables) {
    const names = new Set(listings.map((listing) => listing.name))
    const unknown = options.tables.filter((name) => !names.has(name))
    if (unknown.length > 0) {
      throw new UsageError(
        `No collection ${unknown.map((name) => JSON.stringify(name)).join(', ')} in MongoDB database ${config.database}` +
          ` (it has: ${[...names].map((name) => JSON.stringify(name)).join(', ') || 'no collections'}; system collections are left out).`,
        { code: 'UNKNOWN_TABLE', details: { tables: unknown } },
      )
    }
    const wanted = new Set(options.tables)
    listings = listings.filter((listing) => wanted.has(listing.name))
  }
  const tables: TableSchema[] = []
  for (const listing of listings) tables.push(await describeCollection(db, listing))
  return { engine: 'mongodb', database: config.database, tables, warnings: [...(options.warnings ?? [])] }
}

/** One collection or view as a TableSchema (see the module header). */
export async function describeCollection(db: Db, listing: CollectionListing): Promise<TableSchema> {
  const type = collectionType(listing)
  const options = tableOptionsFromListing(listing)
  const indexes =
    type === 'view'
      ? []
      : (await db.collection(listing.name).listIndexes().toArray())
          .filter((spec) => spec.name !== ID_INDEX_NAME && !(spec as BsonDocument).clustered)
          .map((spec) => indexFromSpec(spec as BsonDocument))
  return {
    name: listing.name,
    columns: [await idColumn(db, listing.name, type)],
    primaryKey: ['_id'],
    uniqueConstraints: [],
    indexes,
    foreignKeys: [],
    options,
  }
}

/**
 * The `_id` pseudo-column. Its type is the BSON type of the lowest and highest `_id` (two index
 * lookups): "mixed" when they differ, "objectId" for an empty collection (what MongoDB assigns).
 * Views and time-series collections have no `_id` index to ask cheaply: "objectId".
 */
async function idColumn(db: Db, name: string, type: string): Promise<ColumnSchema> {
  let idType = 'objectId'
  if (type === 'collection') {
    const collection = db.collection(name)
    const first = await collection.findOne({}, { sort: { _id: 1 }, projection: { _id: 1 } })
    if (first) {
      const last = await collection.findOne({}, { sort: { _id: -1 }, projection: { _id: 1 } })
      const low = bsonTypeName(first._id)
      const high = bsonTypeName(last?._id)
      idType = low === high ? low : 'mixed'
    }
  }
  return { name: '_id', type: idType, kind: 'document', nullable: false }
}

/** `mergeback stats` for MongoDB: DatabaseStats plus the figures of `dbStats` and `$collStats`. */
export interface MongodbStats extends DatabaseStats {
  readonly topology: Topology['kind']
  /** Uncompressed size of the documents. */
  readonly dataSizeBytes: number | null
  /** Disk space of the documents (compressed). */
  readonly storageSizeBytes: number | null
  /** Disk space of the indexes. */
  readonly indexSizeBytes: number | null
  readonly collections: number
  readonly views: number
  readonly indexes: number
  readonly documents: number
  readonly tables: readonly MongodbCollectionStats[]
}

/** One collection's figures in MongodbStats. */
export interface MongodbCollectionStats {
  readonly name: string
  readonly rows: number
  /** On disk: documents plus indexes. */
  readonly sizeBytes: number | null
  readonly dataSizeBytes: number | null
  readonly storageSizeBytes: number | null
  readonly indexSizeBytes: number | null
  readonly indexes: number
  readonly type: 'collection' | 'timeseries'
}

/**
 * Database and per-collection statistics. `sizeBytes` is the disk footprint (storage + indexes),
 * as `pg_database_size` is for PostgreSQL. A collection whose `$collStats` the user may not run
 * gets its count from the collection's metadata and null sizes. Views hold no data and are only
 * counted. `db` has the driver's defaults (MongoConnection.db): the figures are numbers.
 */
export async function readStats(db: Db, topology: Topology, config: ConnectionConfig): Promise<MongodbStats> {
  const dbStats = await db.command({ dbStats: 1, scale: 1 })
  const listings = await listUserCollections(db)
  const tables: MongodbCollectionStats[] = []
  let views = 0
  for (const listing of listings) {
    const type = collectionType(listing)
    if (type === 'view') {
      views++
      continue
    }
    tables.push(await collectionStats(db, listing.name, type))
  }
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null)
  const storage = number(dbStats.storageSize)
  const index = number(dbStats.indexSize)
  const total = number(dbStats.totalSize) ?? (storage !== null && index !== null ? storage + index : null)
  return {
    engine: 'mongodb',
    database: config.database,
    version: topology.version,
    topology: topology.kind,
    sizeBytes: total,
    dataSizeBytes: number(dbStats.dataSize),
    storageSizeBytes: storage,
    indexSizeBytes: index,
    collections: tables.length,
    views,
    indexes: tables.reduce((sum, table) => sum + table.indexes, 0),
    documents: tables.reduce((sum, table) => sum + table.rows, 0),
    tables,
  }
}

async function collectionStats(db: Db, name: string, type: 'collection' | 'timeseries'): Promise<MongodbCollectionStats> {
  const collection = db.collection(name)
  try {
    // One document per shard on a sharded cluster: the figures add up.
    const parts = await collection.aggregate([{ $collStats: { storageStats: {} } }]).toArray()
    let rows = 0
    let data = 0
    let storage = 0
    let indexSize = 0
    let indexes = 0
    for (const part of parts) {
      const stats = (part.storageStats ?? {}) as Record<string, unknown>
      rows += Number(stats.count ?? 0)
      data += Number(stats.size ?? 0)
      storage += Number(stats.storageSize ?? 0)
      indexSize += Number(stats.totalIndexSize ?? 0)
      indexes = Math.max(indexes, Number(stats.nindexes ?? 0))
    }
    // A time-series collection's storage statistics count buckets, not measurements.
    if (type === 'timeseries') rows = await collection.countDocuments({})
    return { name, rows, sizeBytes: storage + indexSize, dataSizeBytes: data, storageSizeBytes: storage, indexSizeBytes: indexSize, indexes, type }
  } catch (error) {
    // $collStats needs the collStats privilege; without it, the count from the metadata.
    if (!(error instanceof MongoServerError) || errorCode(error) !== 13) throw error
    const rows = type === 'timeseries' ? await collection.countDocuments({}) : await collection.estimatedDocumentCount()
    return { name, rows, sizeBytes: null, dataSizeBytes: null, storageSizeBytes: null, indexSizeBytes: null, indexes: 0, type }
  }
}
