/**
 * Writing to a MongoDB database, all or nothing.
 *
 * Two ways to be all or nothing, chosen when the session opens (`atomicity`):
 * - 'transaction' (replica set, sharded cluster): every document write (inserts, merge updates,
 *   `--drop`'s deleteMany) runs in one multi-document transaction, invisible to other clients
 *   until commit(). Collections, views and indexes cannot be created inside a transaction on
 *   every server version, so they are created before it, recorded in the undo journal, and
 *   dropped again by rollback(). The journal's commit marker is written inside the transaction,
 *   so data and marker commit together.
 * - 'undo-journal' (standalone server, or MERGEBACK_MONGODB_WRITE_MODE=journal): every change is
 *   recorded in the undo journal (mongodb-journal.ts) before it is made, and rollback() — or the
 *   next session, after a crash — undoes it. Other clients see the changes while they are made.
 * Capped and time-series collections cannot be written inside a transaction: on a replica set
 * their documents go through the journal too.
 *
 * prepare (restore): checks everything first (names, views vs collections, index definitions,
 * `--drop` on a time-series collection), then creates missing collections with the backup's
 * options and indexes, empties the selected collections with `drop` (inside the transaction:
 * deleteMany; with the journal: rename to a shadow and recreate it with the same options and
 * indexes — O(1), and undone by renaming back), creates the backup's indexes missing on existing
 * collections (an index of the same name and another definition is left alone, with a warning),
 * and creates missing views in dependency order. prepare (merge) creates nothing.
 *
 * writeRows: per chunk of ≤ 1000 documents and ≤ 8 MB: decode (canonical or relaxed Extended
 * JSON, or plain JSON), drop repeated `_id`s, ask the server which `_id`s exist (one `$in`
 * query), and insertMany the rest (ordered: false). Existing `_id`s are skipped and counted, as
 * mongorestore does. With the journal, an `_id` another client inserts between our check and our
 * insert (duplicate key 11000 on `_id`) is skipped too; inside a transaction it fails the write.
 *
 * readByKeys / updateRows (merge): `$in` by `_id`. An update replaces the document by its current
 * version with the given fields set (existing fields keep their place, new ones are appended), so
 * field names with dots or dollars are written as names, never as paths or operators.
 */
import { calculateObjectSize } from 'bson'
import { MongoBulkWriteError, MongoServerError, type ClientSession, type Collection, type Document, type Filter } from 'mongodb'
import type {
  Capabilities,
  ConnectionConfig,
  DatabaseSchema,
  Destination,
  PrepareOptions,
  PrepareResult,
  Row,
  TableSchema,
  WireValue,
  WriteResult,
} from '../adapter.js'
import { ConnectionError, DatabaseError, FormatError, InternalError, MergebackError, UsageError } from '../../errors.js'
import { connect, disconnect, errorCode, mapMongoError, type MongoConnection } from './mongodb-connection.js'
import {
  collectionType,
  createOptions,
  indexToSpec,
  orderViews,
  planIndexes,
  sameView,
  tableOptionsFromListing,
  tableType,
  viewDefinition,
  type CollectionListing,
} from './mongodb-indexes.js'
import { describeDatabase, listUserCollections } from './mongodb-introspector.js'
import { describeRecovery, INTERNAL_PREFIX, MongoJournalOps, UndoJournal, type JournalOwner } from './mongodb-journal.js'
import { decodeDocument, decodeValue, encodeDocument, encodeValue, mongoEqualityKey, type BsonDocument } from './mongodb-values.js'

/** How a write session is all or nothing. */
export type Atomicity = 'transaction' | 'undo-journal'

/** `auto`: a transaction where the server has them, else the undo journal. */
export type WriteMode = 'auto' | 'transaction' | 'journal'

/** Documents per insertMany / $in query, and bytes of documents per insertMany. */
const CHUNK_DOCUMENTS = 1000
const CHUNK_BYTES = 8 * 1024 * 1024
/** DDL waits for a majority, so that the transaction's snapshot (taken later) sees it. */
const MAJORITY = { w: 'majority' as const }
const SQL_ENGINES = new Set(['postgres', 'mysql', 'sqlite'])

interface TargetCollection {
  readonly type: 'collection' | 'timeseries' | 'view'
  readonly capped: boolean
}

/** A write session on one MongoDB database (see the module header). Made by `MongodbDestination.open`. */
export class MongodbDestination implements Destination {
  readonly engine = 'mongodb' as const
  /** The truth for this session: `transactionalWrite` only inside a transaction. */
  readonly capabilities: Capabilities
  /** How this session is all or nothing. */
  readonly atomicity: Atomicity
  readonly #connection: MongoConnection
  readonly #session: ClientSession | undefined
  readonly #journal: UndoJournal
  readonly #recoveryWarnings: readonly string[]
  /** What prepare() learned about the target's collections (type, capped), by name. */
  readonly #targets = new Map<string, TargetCollection>()
  /**
   * Collections this session created or emptied through the journal: they hold only the session's
   * own documents, so an insert outside a transaction needs no `$in` check of which `_id`s exist
   * (a repeated `_id` of the backup then comes back as a duplicate key, and is skipped as such).
   */
  readonly #ownedByJournal = new Set<string>()
  #state: 'open' | 'committed' | 'rolled-back' = 'open'
  #closed = false

  private constructor(connection: MongoConnection, session: ClientSession | undefined, journal: UndoJournal, recoveryWarnings: readonly string[]) {
    this.#connection = connection
    this.#session = session
    this.#journal = journal
    this.#recoveryWarnings = recoveryWarnings
    this.atomicity = session ? 'transaction' : 'undo-journal'
    this.capabilities = { consistentSnapshot: false, transactionalWrite: session !== undefined, transactionalDdl: false, bulkLoad: 'insert-many' }
  }

  /**
   * Connects, completes any abandoned undo journal, takes the journal's lock and, in
   * 'transaction' mode, starts the transaction. Throws ConnectionError within `connectTimeoutMs`,
   * BusyError while another mergeback run writes to the database, UsageError
   * for `writeMode: 'transaction'` on a server without transactions.
   */
  static async open(config: ConnectionConfig, options: { readonly owner: JournalOwner; readonly writeMode: WriteMode }): Promise<MongodbDestination> {
    const connection = await connect(config)
    let session: ClientSession | undefined
    let journal: UndoJournal | undefined
    try {
      const { topology } = connection
      if (options.writeMode === 'transaction' && !topology.supportsTransactions) {
        throw new UsageError(
          `MongoDB at ${config.redacted} is a ${topology.kind} server (${topology.version}) without multi-document transactions; ` +
            'use MERGEBACK_MONGODB_WRITE_MODE=journal (or auto) to write through the undo journal.',
          { code: 'NO_TRANSACTIONS' },
        )
      }
      const useTransaction = options.writeMode !== 'journal' && topology.supportsTransactions
      if (useTransaction) session = connection.client.startSession({ causalConsistency: false })
      const activeSession = session
      const ops = new MongoJournalOps(connection, () => activeSession)
      const begun = await UndoJournal.begin(ops, options.owner, { sessionId: session?.id })
      journal = begun.journal
      session?.startTransaction({ readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' } })
      return new MongodbDestination(connection, session, journal, begun.recovered.map(describeRecovery))
    } catch (error) {
      // Nothing was recorded yet: rolling back only releases the lock.
      if (journal) await journal.rollback().catch(() => journal!.abandon())
      await session?.endSession().catch(() => undefined)
      await disconnect(connection)
      throw mapMongoError(error, config, { action: 'opening the database for writing' })
    }
  }

  /** The current collections and views (read outside the transaction: listCollections cannot run inside one). */
  async describe(): Promise<DatabaseSchema> {
    this.#assertOpen()
    return this.#run({ action: 'listing collections and indexes' }, () => describeDatabase(this.#connection.documents, this.#connection.config))
  }

  /** See the module header. Nothing is changed when a check fails. */
  async prepare(backupSchema: DatabaseSchema, options: PrepareOptions): Promise<PrepareResult> {
    this.#assertOpen()
    if (SQL_ENGINES.has(backupSchema.engine)) {
      throw new UsageError(`This is a ${backupSchema.engine} backup; a MongoDB database takes MongoDB backups only (restoring across engines is not supported).`, {
        code: 'ENGINE_MISMATCH',
      })
    }
    for (const table of backupSchema.tables) checkCollectionName(table.name)
    const listings = await this.#run({ action: 'listing collections' }, () => listUserCollections(this.#connection.documents))
    const existing = new Map(listings.map((listing) => [listing.name, listing]))
    for (const listing of listings) this.#targets.set(listing.name, targetOf(listing))
    const warnings = [...this.#recoveryWarnings]
    const collections = backupSchema.tables.filter((table) => tableType(table) !== 'view')
    const views = backupSchema.tables.filter((table) => tableType(table) === 'view')

    for (const table of collections) {
      const target = existing.get(table.name)
      if (target && collectionType(target) === 'view') {
        throw new UsageError(`${table.name} is a view in the target database: documents cannot be restored or merged into a view. Leave it out with --exclude ${table.name}.`, {
          code: 'SCHEMA_DRIFT',
        })
      }
    }
    if (options.mode === 'merge') {
      const missing = collections.filter((table) => !existing.has(table.name)).map((table) => table.name)
      if (missing.length > 0) {
        throw new UsageError(
          `Collection${missing.length > 1 ? 's' : ''} ${missing.map((name) => JSON.stringify(name)).join(', ')} of the backup do${missing.length > 1 ? '' : 'es'} not exist in the database; ` +
            `a merge creates nothing: restore ${missing.length > 1 ? 'them' : 'it'} first, or leave ${missing.length > 1 ? 'them' : 'it'} out with --exclude.`,
          { code: 'SCHEMA_DRIFT', details: { tables: missing } },
        )
      }
      return { created: [], emptied: [], warnings }
    }

    // Restore: every check before the first change.
    for (const table of collections) {
      table.indexes.forEach(indexToSpec)
      const target = existing.get(table.name)
      if (options.drop && target && collectionType(target) === 'timeseries') {
        throw new UsageError(
          `--drop cannot empty the time-series collection ${table.name} as one undoable step (MongoDB can neither rename it nor delete from it in a transaction); ` +
            `drop it yourself first, or leave it out with --exclude ${table.name}.`,
          { code: 'UNSUPPORTED' },
        )
      }
    }
    const orderedViews = orderViews(views)
    const definitions = new Map(orderedViews.map((view) => [view.name, viewDefinition(view)]))

    const created: string[] = []
    const emptied: string[] = []
    const toEmptyInTransaction: string[] = []
    for (const table of collections) {
      const target = existing.get(table.name)
      if (!target) {
        await this.#createCollection(table)
        if (!this.#inTransaction(table.name)) this.#ownedByJournal.add(table.name)
        created.push(table.name)
        continue
      }
      if (options.drop) {
        if (this.#inTransaction(table.name)) toEmptyInTransaction.push(table.name)
        else {
          await this.#emptyByRename(table.name, target)
          this.#ownedByJournal.add(table.name)
        }
        emptied.push(table.name)
      }
      warnings.push(...(await this.#createMissingIndexes(table)))
    }
    for (const view of orderedViews) {
      const definition = definitions.get(view.name)!
      const target = existing.get(view.name)
      if (!target) {
        await this.#journal.creatingView(view.name)
        await this.#run({ action: 'creating a view', table: view.name }, () =>
          this.#connection.db.command({ create: view.name, ...definition, writeConcern: MAJORITY }),
        )
        this.#targets.set(view.name, { type: 'view', capped: false })
        created.push(view.name)
      } else if (collectionType(target) !== 'view') {
        warnings.push(`View ${view.name} of the backup exists as a collection in the target database; it was left as it is.`)
      } else if (!sameView(definition, viewDefinitionOf(target))) {
        warnings.push(`View ${view.name} exists with another definition; it was left as it is.`)
      }
    }
    // Deletes last: the transaction's snapshot is taken at its first operation, after all DDL.
    for (const name of toEmptyInTransaction) {
      await this.#run({ action: 'emptying the collection', table: name }, () =>
        this.#connection.db.collection(name).deleteMany({}, { session: this.#session }),
      )
    }
    return { created, emptied, warnings }
  }

  /** See the module header. Throws FormatError (table, record index) for a malformed document. */
  async writeRows(table: TableSchema, batches: AsyncIterable<Row[]>): Promise<WriteResult> {
    this.#assertOpen()
    const name = table.name
    if (tableType(table) === 'view' || this.#targets.get(name)?.type === 'view') {
      for await (const rows of batches) {
        if (rows.length > 0) throw new FormatError(`The backup has documents for the view ${name}; a view holds no documents.`, { table: name })
      }
      return { inserted: 0, skipped: 0 }
    }
    const collection = this.#connection.db.collection(name)
    let inserted = 0
    let skipped = 0
    let recordIndex = 0
    for await (const rows of batches) {
      const documents = rows.map((row) => decodeRow(row, name, recordIndex++))
      for (const chunk of chunks(documents)) {
        const result = await this.#insertChunk(collection, chunk)
        inserted += result.inserted
        skipped += result.skipped
      }
    }
    return { inserted, skipped }
  }

  /** Merge: the current documents with these `_id`s (keyColumns must be ['_id']). */
  async readByKeys(table: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<Row[]> {
    this.#assertOpen()
    checkKeyColumns(table, keyColumns)
    const collection = this.#connection.documents.collection(table)
    const out: Row[] = []
    for (let start = 0; start < keys.length; start += CHUNK_DOCUMENTS) {
      const ids = keys.slice(start, start + CHUNK_DOCUMENTS).map((key, index) => decodeKey(key, table, start + index))
      const found = await this.#run({ action: 'reading documents by _id', table }, () =>
        collection.find(byIds(ids), { session: this.#sessionFor(table) }).toArray(),
      )
      for (const document of found) out.push(encodeDocument(document))
    }
    return out
  }

  /**
   * Merge: sets each row's fields (all but `_id`) on the current document with that `_id`,
   * replacing the document by its current version with those fields set. Returns the number of
   * documents found (and so written).
   */
  async updateRows(table: string, keyColumns: readonly string[], rows: readonly Row[]): Promise<number> {
    this.#assertOpen()
    checkKeyColumns(table, keyColumns)
    const collection = this.#connection.db.collection(table)
    const exact = this.#connection.documents.collection(table)
    const session = this.#sessionFor(table)
    let updated = 0
    for (let start = 0; start < rows.length; start += CHUNK_DOCUMENTS) {
      const chunk = rows.slice(start, start + CHUNK_DOCUMENTS).map((row, index) => decodeRow(row, table, start + index))
      const current = await this.#run({ action: 'reading documents to update', table }, () =>
        exact.find(byIds(chunk.map((document) => document._id)), { session }).toArray(),
      )
      const byKey = new Map(current.map((document) => [mongoEqualityKey(document._id), document as BsonDocument]))
      const images: BsonDocument[] = []
      const replacements: { filter: Filter<Document>; replacement: Document }[] = []
      for (const fields of chunk) {
        const before = byKey.get(mongoEqualityKey(fields._id))
        if (!before) continue
        byKey.delete(mongoEqualityKey(fields._id))
        images.push(before)
        replacements.push({ filter: { _id: before._id } as Filter<Document>, replacement: withFields(before, fields) })
      }
      if (replacements.length === 0) continue
      if (!session) await this.#run({ action: 'recording pre-images in the undo journal', table }, () => this.#journal.updating(table, images))
      const result = await this.#run({ action: 'updating documents', table, key: encodeValue(images[0]._id) }, () =>
        collection.bulkWrite(
          replacements.map((replacement) => ({ replaceOne: replacement })),
          { ordered: true, session },
        ),
      )
      updated += result.matchedCount
    }
    return updated
  }

  /**
   * Merge with --apply-deletions (three-way): deletes the documents with these `_id`s. Without a
   * transaction their pre-images go to the undo journal first, as an update's do: a rollback
   * puts them back (its restore upserts). Returns the number of documents deleted.
   */
  async deleteRows(table: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<number> {
    this.#assertOpen()
    checkKeyColumns(table, keyColumns)
    const exact = this.#connection.documents.collection(table)
    const session = this.#sessionFor(table)
    let deleted = 0
    for (let start = 0; start < keys.length; start += CHUNK_DOCUMENTS) {
      const ids = keys.slice(start, start + CHUNK_DOCUMENTS).map((key, index) => decodeKey(key, table, start + index))
      const images = (await this.#run({ action: 'reading documents to delete', table }, () => exact.find(byIds(ids), { session }).toArray())) as BsonDocument[]
      if (images.length === 0) continue
      if (!session) await this.#run({ action: 'recording pre-images in the undo journal', table }, () => this.#journal.updating(table, images))
      const result = await this.#run({ action: 'deleting documents', table, key: encodeValue(images[0]._id) }, () =>
        this.#connection.db.collection(table).deleteMany(byIds(images.map((document) => document._id)), { session }),
      )
      deleted += result.deletedCount
    }
    return deleted
  }

  /** Documents in the collection, as this session sees them. */
  async countRows(table: string): Promise<number> {
    this.#assertOpen()
    return this.#run({ action: 'counting documents', table }, () =>
      this.#connection.db.collection(table).countDocuments({}, { session: this.#sessionFor(table) }),
    )
  }

  /** Nothing is deferred in MongoDB: no foreign keys, no sequences. */
  async finish(): Promise<void> {
    this.#assertOpen()
  }

  /**
   * Makes everything permanent: commit marker (inside the transaction), transaction commit, then
   * the journal's clean-up. On failure nothing is committed and the caller rolls back.
   */
  async commit(): Promise<void> {
    this.#assertOpen()
    const session = this.#session
    await this.#run({ action: 'committing' }, () =>
      this.#journal.commit(async () => {
        if (session?.inTransaction()) await session.commitTransaction()
      }),
    )
    this.#state = 'committed'
  }

  /**
   * Undoes everything since open: aborts the transaction, then undoes the journal newest first.
   * Safe after any failure and more than once; a no-op after commit() (a commit cannot be
   * undone). When the undo itself fails (e.g. the connection is gone), throws DatabaseError: the
   * journal stays in the database and the next mergeback session against it completes the undo
   * before doing anything else.
   */
  async rollback(_cause?: unknown): Promise<void> {
    if (this.#state !== 'open') return
    if (this.#session?.inTransaction()) await this.#session.abortTransaction().catch(() => undefined)
    try {
      await this.#journal.rollback()
    } catch (error) {
      const mapped = mapMongoError(error, this.#connection.config, { action: 'rolling back' })
      throw new DatabaseError(
        `The rollback could not be completed (${mapped.message}). The undo journal stays in database ${this.#connection.config.database}: ` +
          'the next mergeback command against it completes the rollback before doing anything else.',
        { cause: error },
      )
    }
    this.#state = 'rolled-back'
  }

  /** Rolls back if neither commit() nor rollback() was called, then releases the connection. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    let failure: unknown
    if (this.#state === 'open') {
      try {
        await this.rollback()
      } catch (error) {
        failure = error
      }
    }
    if (this.#state === 'open') this.#journal.abandon()
    await this.#session?.endSession().catch(() => undefined)
    await disconnect(this.#connection)
    if (failure !== undefined) throw failure
  }

  // -------------------------------------------------------------------------------------------

  /** Whether this collection's document writes run inside the transaction (not for capped or time-series). */
  #inTransaction(name: string): boolean {
    if (!this.#session) return false
    const target = this.#targets.get(name)
    return !target || (target.type === 'collection' && !target.capped)
  }

  #sessionFor(name: string): ClientSession | undefined {
    return this.#inTransaction(name) ? this.#session : undefined
  }

  async #createCollection(table: TableSchema): Promise<void> {
    const options = createOptions(table)
    await this.#journal.creatingCollection(table.name)
    await this.#run({ action: 'creating the collection', table: table.name }, () =>
      this.#connection.db.command({ create: table.name, ...options, writeConcern: MAJORITY }),
    )
    this.#targets.set(table.name, { type: options.timeseries ? 'timeseries' : 'collection', capped: options.capped === true })
    const { create } = planIndexes(table.name, table.indexes, [])
    // Dropping the collection on rollback drops these indexes with it: no journal entries needed.
    if (create.length > 0) {
      await this.#run({ action: 'creating indexes', table: table.name }, () =>
        this.#connection.db.command({ createIndexes: table.name, indexes: create, writeConcern: MAJORITY }),
      )
    }
  }

  /** Journal mode `--drop`: rename to a shadow, recreate empty with the same options and indexes. */
  async #emptyByRename(name: string, listing: CollectionListing): Promise<void> {
    const { db, documents } = this.#connection
    const shadow = await this.#journal.emptying(name)
    await this.#run({ action: 'emptying the collection (rename)', table: name }, async () => {
      const indexes = await documents.collection(name).listIndexes().toArray()
      await db.renameCollection(name, shadow, { dropTarget: false, writeConcern: MAJORITY })
      const options = createOptions({ name, columns: [], primaryKey: [], uniqueConstraints: [], indexes: [], foreignKeys: [], options: tableOptionsFromListing(listing) })
      await db.command({ create: name, ...options, writeConcern: MAJORITY })
      const specs = indexes.filter((spec) => spec.name !== '_id_' && !spec.clustered).map(({ v, ns, ...spec }) => spec)
      if (specs.length > 0) await db.command({ createIndexes: name, indexes: specs, writeConcern: MAJORITY })
    })
  }

  async #createMissingIndexes(table: TableSchema): Promise<string[]> {
    const { db, documents } = this.#connection
    const existing = await this.#run({ action: 'listing indexes', table: table.name }, () => documents.collection(table.name).listIndexes().toArray())
    const plan = planIndexes(table.name, table.indexes, existing as BsonDocument[])
    const warnings = [...plan.warnings]
    for (const spec of plan.create) {
      await this.#journal.creatingIndex(table.name, String(spec.name))
      try {
        await db.command({ createIndexes: table.name, indexes: [spec], writeConcern: MAJORITY })
      } catch (error) {
        // 85 IndexOptionsConflict / 86 IndexKeySpecsConflict: an equivalent index exists under another name.
        if (error instanceof MongoServerError && (errorCode(error) === 85 || errorCode(error) === 86)) {
          warnings.push(`Index ${String(spec.name)} on ${table.name} was not created: ${error.message}`)
          continue
        }
        throw mapMongoError(error, this.#connection.config, { action: `creating index ${String(spec.name)}`, table: table.name })
      }
    }
    return warnings
  }

  async #insertChunk(collection: Collection, chunk: readonly BsonDocument[]): Promise<WriteResult> {
    const name = collection.collectionName
    const session = this.#sessionFor(name)
    // The same _id twice in the backup: the first one counts, the others are skipped.
    const unique = new Map<string, BsonDocument>()
    for (const document of chunk) {
      const key = mongoEqualityKey(document._id)
      if (!unique.has(key)) unique.set(key, document)
    }
    const existing = this.#ownedByJournal.has(name)
      ? new Set<string>()
      : await this.#existingIds(collection, [...unique.values()].map((document) => document._id), session)
    const fresh = [...unique].filter(([key]) => !existing.has(key)).map(([, document]) => document)
    let skipped = chunk.length - fresh.length
    if (fresh.length === 0) return { inserted: 0, skipped }
    const seq = session ? undefined : await this.#journal.inserting(name, fresh.map((document) => document._id))
    try {
      await collection.insertMany(fresh, { ordered: false, session })
      return { inserted: fresh.length, skipped }
    } catch (error) {
      if (session || !(error instanceof MongoBulkWriteError)) throw this.#insertError(error, name, fresh)
      // Journal mode: duplicates of _ids another client inserted meanwhile are skips; anything else fails.
      const writeErrors = [error.writeErrors].flat().filter((writeError) => writeError !== undefined)
      // A bulk error whose documents are not all accounted for — no per-document errors at all
      // when the connection dropped (FerretDB closes it on a value it cannot store) — is a failure,
      // never "all went in".
      if (writeErrors.length === 0 || error.insertedCount + writeErrors.length !== fresh.length) throw this.#insertError(error, name, fresh)
      const failedIndexes = new Set(writeErrors.map((writeError) => writeError.index))
      const duplicates = writeErrors.filter((writeError) => errorCode(writeError) === 11000).map((writeError) => fresh[writeError.index])
      const nowThere = await this.#existingIds(collection, duplicates.map((document) => document._id), undefined)
      const real = writeErrors.find((writeError) => errorCode(writeError) !== 11000 || !nowThere.has(mongoEqualityKey(fresh[writeError.index]._id)))
      if (real) throw this.#insertError(error, name, fresh, real.index)
      skipped += duplicates.length
      const wentIn = fresh.filter((_, index) => !failedIndexes.has(index)).map((document) => document._id)
      await this.#run({ action: 'narrowing the undo journal', table: name }, () => this.#journal.insertedOnly(seq!, wentIn))
      return { inserted: wentIn.length, skipped }
    }
  }

  /**
   * The equality keys of those of `ids` that exist, by the server's own equality (numbers by
   * value, the collection's collation). One `$in` query; only when the server returns an `_id`
   * we cannot map back (a case-insensitive collation), one query per unmatched `_id`.
   */
  async #existingIds(collection: Collection, ids: readonly unknown[], session: ClientSession | undefined): Promise<Set<string>> {
    const found = new Set<string>()
    if (ids.length === 0) return found
    const name = collection.collectionName
    const wanted = new Set(ids.map(mongoEqualityKey))
    const returned = await this.#run({ action: 'checking which _ids exist', table: name }, () =>
      this.#connection.documents.collection(name).find(byIds(ids), { projection: { _id: 1 }, session }).toArray(),
    )
    let unmapped = false
    for (const document of returned) {
      const key = mongoEqualityKey(document._id)
      if (wanted.has(key)) found.add(key)
      else unmapped = true
    }
    if (unmapped) {
      for (const id of ids) {
        const key = mongoEqualityKey(id)
        if (found.has(key)) continue
        const count = await this.#run({ action: 'checking which _ids exist', table: name }, () =>
          collection.countDocuments({ _id: id } as Filter<Document>, { limit: 1, session }),
        )
        if (count > 0) found.add(key)
      }
    }
    return found
  }

  #insertError(error: unknown, table: string, documents: readonly BsonDocument[], index?: number): MergebackError {
    const writeError = error instanceof MongoBulkWriteError ? [error.writeErrors].flat()[0] : undefined
    const failed = documents[index ?? writeError?.index ?? -1]
    const key = failed ? encodeValue(failed._id) : undefined
    const mapped = mapMongoError(error, this.#connection.config, { action: 'inserting documents', table, key })
    // A bulk insert cut off by the connection (mapMongoError maps the network error inside it).
    if (mapped instanceof ConnectionError && error instanceof MongoBulkWriteError) {
      return new ConnectionError(
        `${mapped.message}. If it happens again at the same document, the server cannot store one of its values and drops the connection ` +
          '(FerretDB 1.x does so for Decimal128, NaN, MinKey/MaxKey, JavaScript code and symbols; see docs/mongodb.md).',
        { cause: error, retryable: mapped.retryable },
      )
    }
    if (!(mapped instanceof DatabaseError) || !writeError) return mapped
    const detail = writeError.errInfo ? ` ${JSON.stringify(encodeValue(writeError.errInfo))}` : ''
    return new DatabaseError(`${mapped.message}${detail}`, { cause: error, engineCode: String(errorCode(writeError) ?? ''), table, key })
  }

  async #run<T>(context: { action: string; table?: string; key?: WireValue }, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      throw mapMongoError(error, this.#connection.config, context)
    }
  }

  #assertOpen(): void {
    if (this.#closed || this.#state !== 'open') throw new InternalError(`The MongoDB destination was used after ${this.#closed ? 'close()' : `${this.#state}`}.`)
  }
}

function targetOf(listing: CollectionListing): TargetCollection {
  return { type: collectionType(listing), capped: listing.options?.capped === true }
}

function viewDefinitionOf(listing: CollectionListing): { viewOn: string; pipeline: unknown; collation?: unknown } {
  const options = listing.options ?? {}
  return { viewOn: String(options.viewOn ?? ''), pipeline: options.pipeline ?? [], collation: options.collation }
}

/** Collection names MongoDB accepts and mergeback may write (never system or internal ones). */
function checkCollectionName(name: string): void {
  if (!name || name.includes('\0') || name.includes('$') || name.startsWith('system.') || name.startsWith(INTERNAL_PREFIX)) {
    throw new UsageError(
      `${JSON.stringify(name)} cannot be restored as a MongoDB collection (names must be non-empty, without "$" or NUL, and not start with "system." or "${INTERNAL_PREFIX}").`,
      { code: 'BAD_TABLE_NAME' },
    )
  }
}

function checkKeyColumns(table: string, keyColumns: readonly string[]): void {
  if (keyColumns.length !== 1 || keyColumns[0] !== '_id') {
    throw new UsageError(`MongoDB collection ${table} is keyed by _id, not by ${keyColumns.join(', ') || 'nothing'}.`, { code: 'BAD_KEY' })
  }
}

function decodeRow(row: Row, table: string, recordIndex: number): BsonDocument {
  let document: BsonDocument
  try {
    document = decodeDocument(row)
  } catch (error) {
    if (!(error instanceof FormatError)) throw error
    throw new FormatError(`Collection ${table}, document ${recordIndex}: ${error.message}`, { cause: error, table, recordIndex })
  }
  if (!('_id' in document) || document._id === undefined) {
    throw new FormatError(`Collection ${table}, document ${recordIndex} has no _id; MongoDB documents in a backup must carry their _id.`, { table, recordIndex })
  }
  if (Array.isArray(document._id)) {
    throw new FormatError(`Collection ${table}, document ${recordIndex}: an _id cannot be an array.`, { table, recordIndex })
  }
  return document
}

function decodeKey(key: Row, table: string, index: number): unknown {
  if (!('_id' in key)) throw new UsageError(`Key ${index} for collection ${table} has no _id.`, { code: 'BAD_KEY' })
  try {
    return decodeValue(key._id)
  } catch (error) {
    throw new FormatError(`Collection ${table}, key ${index}: ${(error as Error).message}`, { cause: error, table, recordIndex: index })
  }
}

/** The current document with `fields` set: existing fields keep their place, new ones are appended. */
function withFields(current: BsonDocument, fields: BsonDocument): BsonDocument {
  const next: BsonDocument = {}
  for (const name of Object.keys(current)) setField(next, name, current[name])
  for (const name of Object.keys(fields)) if (name !== '_id') setField(next, name, fields[name])
  return next
}

function setField(target: BsonDocument, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(target, name, { value, writable: true, enumerable: true, configurable: true })
  else target[name] = value
}

/** Splits documents into insertMany-sized chunks (≤ 1000 documents, ≤ 8 MB; a bigger single document is a chunk of its own). */
function* chunks(documents: readonly BsonDocument[]): Generator<BsonDocument[]> {
  let chunk: BsonDocument[] = []
  let bytes = 0
  for (const document of documents) {
    const size = calculateObjectSize(document)
    if (chunk.length > 0 && (chunk.length >= CHUNK_DOCUMENTS || bytes + size > CHUNK_BYTES)) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(document)
    bytes += size
  }
  if (chunk.length > 0) yield chunk
}

function byIds(ids: readonly unknown[]): Filter<Document> {
  return { _id: { $in: [...ids] } } as Filter<Document>
}
