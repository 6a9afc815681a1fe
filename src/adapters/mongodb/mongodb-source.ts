/**
 * Reading a MongoDB database: collections streamed in `_id` order, in batches, pulled.
 *
 * 1. open: connect (mongodb-connection.ts). Before anything else, an undo journal left by a
 *    crashed write session is completed (mongodb-journal.ts): a backup must not save a
 *    half-restored database. A run that is still alive is reported as a warning instead. On a
 *    replica set or sharded cluster ≥ 5.0 a snapshot session is started (`readConcern:
 *    snapshot`): every find of this source then reads the same point in time, and
 *    `capabilities.consistentSnapshot` is true. MongoDB allows no snapshot reads on capped
 *    collections: those are read outside the snapshot, and describe() warns about it. A standalone
 *    server has no snapshots: collections are read one after the other, each as it is then.
 * 2. readTable: `find({}).sort({ _id: 1 })` with `batchSize`, read with EXACT_BSON_OPTIONS (Int32,
 *    Int64 and Double stay apart) and encoded as canonical Extended JSON. The async generator
 *    yields one batch at a time; the driver fetches the next batch from the server only when the
 *    previous one is used up, so memory stays at about one batch. Leaving the loop (break or an
 *    error) closes the server cursor in `finally`. Views yield nothing (their definition is the
 *    backup); time-series collections have no `_id` index and are read in natural order.
 * 3. close: ends the session and the client. Idempotent.
 *
 * Snapshot history is kept for `minSnapshotHistoryWindowInSeconds` (default 300 s): a backup that
 * takes longer fails with a DatabaseError that says so (docs/mongodb.md).
 */
import type { ClientSession } from 'mongodb'
import type { Capabilities, ConnectionConfig, DatabaseSchema, ReadOptions, Row, Source, TableSchema } from '../adapter.js'
import { DatabaseError, FormatError, InternalError } from '../../errors.js'
import { connect, disconnect, errorCode, mapMongoError, type MongoConnection } from './mongodb-connection.js'
import { tableType } from './mongodb-indexes.js'
import { describeDatabase, readStats, type MongodbStats } from './mongodb-introspector.js'
import { describeBusy, describeRecovery, MongoJournalOps, UndoJournal, type JournalOwner } from './mongodb-journal.js'
import { encodeDocument, encodeValue, type BsonDocument } from './mongodb-values.js'

/** Documents per batch when the caller does not say. */
export const DEFAULT_BATCH_SIZE = 1000

/** A read session on one MongoDB database (see the module header). Made by `MongodbSource.open`. */
export class MongodbSource implements Source {
  readonly engine = 'mongodb' as const
  readonly capabilities: Capabilities
  readonly #connection: MongoConnection
  readonly #session: ClientSession | undefined
  readonly #warnings: readonly string[]
  #closed = false

  private constructor(connection: MongoConnection, session: ClientSession | undefined, warnings: readonly string[]) {
    this.#connection = connection
    this.#session = session
    this.#warnings = warnings
    this.capabilities = { consistentSnapshot: session !== undefined, transactionalWrite: false, transactionalDdl: false, bulkLoad: 'insert-many' }
  }

  /**
   * Connects, completes an abandoned undo journal, and starts a snapshot session where the server
   * has them. Throws ConnectionError (unreachable, credentials) within `connectTimeoutMs`,
   * UsageError for a bad URL, DatabaseError when the journal cannot be completed.
   */
  static async open(config: ConnectionConfig, owner: JournalOwner): Promise<MongodbSource> {
    const connection = await connect(config)
    try {
      const warnings = await recoverJournal(connection, owner)
      const session = connection.topology.supportsSnapshotReads ? connection.client.startSession({ snapshot: true }) : undefined
      return new MongodbSource(connection, session, warnings)
    } catch (error) {
      await disconnect(connection)
      throw mapMongoError(error, config, { action: 'opening the database for reading' })
    }
  }

  /** The collections and views (see mongodb-introspector.ts), plus what open() had to report. */
  async describe(options: { readonly tables?: readonly string[] } = {}): Promise<DatabaseSchema> {
    this.#assertOpen()
    try {
      const schema = await describeDatabase(this.#connection.documents, this.#connection.config, { tables: options.tables, warnings: this.#warnings })
      if (!this.#session) return schema
      const capped = schema.tables.filter(isCapped).map((table) => table.name)
      if (capped.length === 0) return schema
      return {
        ...schema,
        warnings: [
          ...schema.warnings,
          `Capped collection${capped.length > 1 ? 's' : ''} ${capped.join(', ')} ${capped.length > 1 ? 'are' : 'is'} read outside the snapshot: MongoDB allows no snapshot reads on capped collections.`,
        ],
      }
    } catch (error) {
      throw mapMongoError(error, this.#connection.config, { action: 'listing collections and indexes' })
    }
  }

  /** Streams the documents of a collection (see the module header). */
  async *readTable(table: TableSchema, options: ReadOptions = {}): AsyncGenerator<Row[]> {
    this.#assertOpen()
    const type = tableType(table)
    if (type === 'view') return
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    const config = this.#connection.config
    const cursor = this.#connection.documents.collection(table.name).find(
      {},
      {
        sort: type === 'collection' ? { _id: 1 } : undefined,
        batchSize,
        // MongoDB refuses snapshot reads on capped collections (SERVER-47574): those are read as they are now.
        session: isCapped(table) ? undefined : this.#session,
        // A capped collection made before 4.0 may lack the _id index; the sort then spills to disk.
        allowDiskUse: type === 'collection' ? true : undefined,
        ...(options.signal ? { signal: options.signal } : {}),
      },
    )
    try {
      let batch: Row[] = []
      for await (const document of cursor) {
        batch.push(encodeRead(document, table.name))
        if (batch.length >= batchSize) {
          yield batch
          batch = []
        }
      }
      if (batch.length > 0) yield batch
    } catch (error) {
      options.signal?.throwIfAborted()
      throw mapMongoError(error, config, { action: 'reading documents', table: table.name })
    } finally {
      await cursor.close().catch(() => undefined)
    }
  }

  /** Database size, storage and index sizes, and per-collection counts and sizes. */
  async stats(): Promise<MongodbStats> {
    this.#assertOpen()
    try {
      return await readStats(this.#connection.db, this.#connection.topology, this.#connection.config)
    } catch (error) {
      throw mapMongoError(error, this.#connection.config, { action: 'reading database statistics' })
    }
  }

  /** Ends the snapshot session and closes the client. Idempotent; never throws. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#session?.endSession().catch(() => undefined)
    await disconnect(this.#connection)
  }

  #assertOpen(): void {
    if (this.#closed) throw new InternalError('The MongoDB source was used after close().')
  }
}

function isCapped(table: TableSchema): boolean {
  return table.options?.capped === true
}

/** Encodes a document read from a collection; a value the driver could not read names its document. */
function encodeRead(document: BsonDocument, table: string): Row {
  try {
    return encodeDocument(document)
  } catch (error) {
    if (!(error instanceof FormatError)) throw error
    const key = encodeValue(document._id)
    throw new DatabaseError(`Collection ${table}, document _id ${JSON.stringify(key)}: ${error.message}`, { cause: error, table, key })
  }
}

/**
 * Completes an undo journal left by a crashed write session, returning what to tell the user.
 * A user who may only read gets a warning instead of a failure: the backup goes on.
 */
async function recoverJournal(connection: MongoConnection, owner: JournalOwner): Promise<string[]> {
  try {
    const { recovered, busy } = await UndoJournal.recover(new MongoJournalOps(connection), owner)
    const warnings = recovered.map(describeRecovery)
    if (busy) warnings.push(`${describeBusy(busy)} This backup may contain its changes in part.`)
    return warnings
  } catch (error) {
    if (errorCode(error) === 13) {
      return ['Could not check the undo journal (the user may only read): if a mergeback run was interrupted here, run any write command once to complete its rollback.']
    }
    throw error
  }
}
