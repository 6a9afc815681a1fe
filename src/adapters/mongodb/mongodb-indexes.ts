/**
 * Index, collection and view options: `listIndexes` / `listCollections` ⇄ the portable schema ⇄
 * `createIndexes` / `create`.
 *
 * An index is saved as an IndexSchema whose `options` hold its full `listIndexes` entry in
 * canonical Extended JSON, except `name` and `unique` (fields of IndexSchema) and what the server
 * fills in by itself: `v` (index version), `ns` (servers before 4.4) and `background` (ignored
 * since 4.2). Everything else is kept as the server reported it, so that `createIndexes` gets
 * back exactly what `listIndexes` gave: `key` (with its order and its values: 1, -1, "text",
 * "2dsphere", "hashed", …), `sparse`, `expireAfterSeconds`, `partialFilterExpression`,
 * `collation`, text `weights` / `default_language` / `language_override` / `textIndexVersion`,
 * `2dsphereIndexVersion`, `bits` / `min` / `max`, `hidden`, `wildcardProjection`,
 * `storageEngine`, `prepareUnique`. mongorestore recreates indexes the same way.
 *
 * A collection's table options are `{ type, …the options listCollections reports }` (validator,
 * validationLevel/Action, capped/size/max, collation, timeseries, expireAfterSeconds,
 * clusteredIndex, changeStreamPreAndPostImages, indexOptionDefaults, storageEngine), values in
 * canonical Extended JSON. A view's are `{ type: 'view', view: { viewOn, pipeline }, collation? }`.
 * Two adjustments make a listed option acceptable to `create` again (see createOptions()).
 *
 * All functions here are pure.
 */
import type { IndexSchema, TableSchema, WireValue } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { decodeValue, encodeValue, mongoEqualityKey, type BsonDocument } from './mongodb-values.js'

/** The `_id` index every collection has: created with the collection, never listed in a schema. */
export const ID_INDEX_NAME = '_id_'

/** Fields of a listIndexes entry that are the server's business, not the index's definition. */
const SERVER_INDEX_FIELDS = new Set(['v', 'ns', 'background'])

/** What a MongoDB collection (or view) is, as kept in `TableSchema.options.type`. */
export type CollectionType = 'collection' | 'timeseries' | 'view'

/** One entry of `listCollections` (the fields we read). */
export interface CollectionListing {
  readonly name: string
  readonly type?: string
  readonly options?: BsonDocument
}

/**
 * A `listIndexes` entry → IndexSchema. `columns` are the indexed field paths (for a text index,
 * the fields of `weights` plus the other key fields; for a wildcard index `$**` or `a.$**`).
 */
export function indexFromSpec(spec: BsonDocument): IndexSchema {
  const name = spec.name
  const key = spec.key
  if (typeof name !== 'string' || key === null || typeof key !== 'object') {
    throw new UsageError(`An index listed by the server has no name or key: ${JSON.stringify(encodeValue(spec))}.`)
  }
  const options: Record<string, WireValue> = {}
  for (const field of Object.keys(spec)) {
    if (field === 'name' || field === 'unique' || SERVER_INDEX_FIELDS.has(field)) continue
    options[field] = encodeValue(spec[field])
  }
  return { name, columns: indexColumns(key as BsonDocument, spec.weights), unique: isTrue(spec.unique), options }
}

/**
 * IndexSchema → the specification `createIndexes` takes. An index from a backup of another engine
 * (no `options.key`) becomes an ascending index on its columns. Throws UsageError for an index
 * without a name or columns.
 */
export function indexToSpec(index: IndexSchema): BsonDocument {
  if (!index.name) throw new UsageError('An index in the backup has no name.')
  const options = index.options ?? {}
  let key: unknown
  if (options.key !== undefined) key = decodeValue(options.key as WireValue)
  else {
    if (index.columns.length === 0) throw new UsageError(`Index ${index.name} in the backup has no columns.`)
    key = Object.fromEntries(index.columns.map((column) => [column, 1]))
  }
  const spec: BsonDocument = { key, name: index.name }
  if (index.unique) spec.unique = true
  for (const field of Object.keys(options)) {
    if (field === 'key' || field === 'name' || field === 'unique' || SERVER_INDEX_FIELDS.has(field)) continue
    spec[field] = decodeValue(options[field] as WireValue)
  }
  return spec
}

/**
 * Whether two index specifications (listIndexes entries or indexToSpec results) define the same
 * index: same key pattern (in order; numbers by value, so 1 = 1.0) and the same options
 * (in any order; `false` is the same as absent for the boolean ones).
 */
export function sameIndex(a: BsonDocument, b: BsonDocument): boolean {
  return mongoEqualityKey(a.key) === mongoEqualityKey(b.key) && optionsKey(a) === optionsKey(b)
}

function optionsKey(spec: BsonDocument): string {
  const fields = Object.keys(spec)
    .filter((field) => field !== 'key' && field !== 'name' && !SERVER_INDEX_FIELDS.has(field))
    .filter((field) => !((field === 'unique' || field === 'sparse' || field === 'hidden') && !isTrue(spec[field])))
    .sort()
  return JSON.stringify(fields.map((field) => [field, mongoEqualityKey(spec[field])]))
}

/** What to do with the backup's indexes on a collection that already has `existing` ones. */
export interface IndexPlan {
  /** Specifications to pass to createIndexes. */
  readonly create: readonly BsonDocument[]
  /** Indexes that exist with the same name but another definition: left as they are. */
  readonly warnings: readonly string[]
}

/**
 * Decides which of the backup's indexes to create on `collection`: the ones whose name does not
 * exist yet. An index that exists under the same name with the same definition is left alone
 * silently; with another definition it is left alone with a warning (a restore never drops an
 * index). The `_id` index is never created (every collection has it).
 */
export function planIndexes(collection: string, wanted: readonly IndexSchema[], existing: readonly BsonDocument[]): IndexPlan {
  const byName = new Map(existing.map((spec) => [spec.name as string, spec]))
  const create: BsonDocument[] = []
  const warnings: string[] = []
  for (const index of wanted) {
    if (index.name === ID_INDEX_NAME) continue
    const spec = indexToSpec(index)
    const current = byName.get(index.name)
    if (!current) create.push(spec)
    else if (!sameIndex(current, spec)) {
      warnings.push(`Index ${index.name} on ${collection} differs from the backup's definition; it was left as it is.`)
    }
  }
  return { create, warnings }
}

function indexColumns(key: BsonDocument, weights: unknown): string[] {
  const columns: string[] = []
  for (const field of Object.keys(key)) {
    if (field === '_fts' || field === '_ftsx') continue
    columns.push(field)
  }
  if ('_fts' in key && weights !== null && typeof weights === 'object') columns.push(...Object.keys(weights as BsonDocument))
  return columns
}

function isTrue(value: unknown): boolean {
  if (value === true) return true
  // Old servers and hand-made indexes store `unique: 1`.
  const n = typeof value === 'number' ? value : (value as { value?: unknown } | null)?.value
  return typeof n === 'number' && n !== 0
}

// ---------------------------------------------------------------------------------------------
// Collection and view options
// ---------------------------------------------------------------------------------------------

/** listCollections entry → `TableSchema.options` (values in canonical Extended JSON). */
export function tableOptionsFromListing(listing: CollectionListing): Record<string, WireValue> {
  const type = collectionType(listing)
  const options = listing.options ?? {}
  if (type === 'view') {
    const out: Record<string, WireValue> = {
      type,
      view: { viewOn: String(options.viewOn ?? ''), pipeline: encodeValue(options.pipeline ?? []) },
    }
    if (options.collation !== undefined) out.collation = encodeValue(options.collation)
    return out
  }
  const out: Record<string, WireValue> = { type }
  for (const field of Object.keys(options)) out[field] = encodeValue(options[field])
  return out
}

/** The collection type a listCollections entry describes. */
export function collectionType(listing: CollectionListing): CollectionType {
  if (listing.type === 'view') return 'view'
  if (listing.type === 'timeseries') return 'timeseries'
  return 'collection'
}

/** The type recorded in a table schema; a table from a backup without options is a collection. */
export function tableType(table: TableSchema): CollectionType {
  const type = table.options?.type
  return type === 'view' || type === 'timeseries' ? type : 'collection'
}

/** A view's definition from its table schema; UsageError when it has none. */
export function viewDefinition(table: TableSchema): { viewOn: string; pipeline: BsonDocument[]; collation?: BsonDocument } {
  const view = table.options?.view as { viewOn?: unknown; pipeline?: unknown } | undefined
  if (!view || typeof view.viewOn !== 'string' || !view.viewOn || !Array.isArray(view.pipeline)) {
    throw new UsageError(`View ${table.name} in the backup has no definition (options.view = { viewOn, pipeline }).`)
  }
  const definition: { viewOn: string; pipeline: BsonDocument[]; collation?: BsonDocument } = {
    viewOn: view.viewOn,
    pipeline: decodeValue(view.pipeline as WireValue) as BsonDocument[],
  }
  if (table.options?.collation !== undefined) definition.collation = decodeValue(table.options.collation as WireValue) as BsonDocument
  return definition
}

/** Whether two view definitions are the same (numbers by value, key order significant as in a pipeline). */
export function sameView(a: { viewOn: string; pipeline: unknown; collation?: unknown }, b: { viewOn: string; pipeline: unknown; collation?: unknown }): boolean {
  return a.viewOn === b.viewOn && mongoEqualityKey(a.pipeline) === mongoEqualityKey(b.pipeline) && mongoEqualityKey(a.collation) === mongoEqualityKey(b.collation)
}

/** Default bucketing of each time-series granularity (MongoDB docs: "Time Series Collection Limitations"). */
const TIMESERIES_DEFAULTS: Record<string, { maxSpan: number; rounding: number }> = {
  seconds: { maxSpan: 3600, rounding: 60 },
  minutes: { maxSpan: 86400, rounding: 3600 },
  hours: { maxSpan: 2592000, rounding: 86400 },
}

/**
 * `TableSchema.options` of a collection → the options `create` takes. Two adjustments, both
 * because listCollections reports more than create accepts:
 * - time series: `bucketMaxSpanSeconds` / `bucketRoundingSeconds` are dropped when they are the
 *   defaults of the stated `granularity` (since 6.3 the server lists them, but refuses them next
 *   to a granularity);
 * - `clusteredIndex`: its `v` is the server's to choose.
 */
export function createOptions(table: TableSchema): BsonDocument {
  const out: BsonDocument = {}
  for (const field of Object.keys(table.options ?? {})) {
    if (field === 'type' || field === 'view') continue
    out[field] = decodeValue(table.options![field] as WireValue)
  }
  const timeseries = out.timeseries as BsonDocument | undefined
  if (timeseries && typeof timeseries.granularity === 'string') {
    const defaults = TIMESERIES_DEFAULTS[timeseries.granularity]
    const number = (value: unknown) => (typeof value === 'number' ? value : (value as { value?: number } | undefined)?.value)
    if (defaults && number(timeseries.bucketMaxSpanSeconds) === defaults.maxSpan) delete timeseries.bucketMaxSpanSeconds
    if (defaults && number(timeseries.bucketRoundingSeconds) === defaults.rounding) delete timeseries.bucketRoundingSeconds
  }
  const clustered = out.clusteredIndex as BsonDocument | undefined
  if (clustered && typeof clustered === 'object') delete clustered.v
  return out
}

/**
 * Orders views so that each comes after the view it is defined on (a view on a view needs its
 * source first). Views on collections, or on names outside `views`, keep their order.
 */
export function orderViews(views: readonly TableSchema[]): TableSchema[] {
  const byName = new Map(views.map((view) => [view.name, view]))
  const ordered: TableSchema[] = []
  const placed = new Set<string>()
  const visiting = new Set<string>()
  const visit = (view: TableSchema) => {
    if (placed.has(view.name)) return
    if (visiting.has(view.name)) throw new UsageError(`Views in the backup are defined on each other in a cycle (${[...visiting, view.name].join(' → ')}).`)
    visiting.add(view.name)
    const source = byName.get(String((view.options?.view as { viewOn?: unknown } | undefined)?.viewOn))
    if (source) visit(source)
    visiting.delete(view.name)
    placed.add(view.name)
    ordered.push(view)
  }
  views.forEach(visit)
  return ordered
}
