/**
 * Reading a SQLite database: one read transaction, streamed in batches.
 *
 * 1. open: the file is opened read-only (it must exist: reading never creates a file), then
 *    `BEGIN` and a first read take the snapshot. Until close(), every describe(), readTable()
 *    and stats() sees that one state of the file, whatever other connections commit (in WAL
 *    mode they go on writing; in rollback-journal mode their commits wait for us).
 * 2. readTable: `SELECT … ORDER BY <primary key>` (rowid order for a table without one), run
 *    with better-sqlite3's `iterate()`. The driver is synchronous, so the async generator pulls
 *    at most `batchSize` rows from the iterator per step and hands them over; the next batch is
 *    read only when the consumer asks, so memory stays at one batch. Leaving the loop early
 *    (break, throw) finalizes the statement in `finally`.
 * 3. close: ends the transaction and closes the file.
 * Every read is a scan of whole tables, so the page cache is kept small (SOURCE_CACHE_KIB).
 */
import type { ConnectionConfig, DatabaseSchema, DatabaseStats, ReadOptions, Row, Source, TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { openReadOnly, quoteIdent, SQLITE_CAPABILITIES, withErrors, type SqliteDatabase } from './sqlite-connection.js'
import { describeDatabase, readStats } from './sqlite-introspector.js'
import { encodeValue, finishChunk, recordLineEncoder, sqlRecordLines, type SqliteValue } from './sqlite-values.js'

/** Rows per batch when the caller does not say. */
export const DEFAULT_BATCH_SIZE = 1000
/** Rows per chunk of readRecordLines (about 1 MB of text for rows of a few hundred bytes). */
const LINES_BATCH_SIZE = 500
/**
 * The session's page cache (KiB), instead of the build's 16 MiB (SQLITE_DEFAULT_CACHE_SIZE=-16000
 * in better-sqlite3). Every read of a source is a scan of whole tables, which fills any cache to
 * its limit: 16 MiB more of a backup's peak RSS. A page read again (a table scanned through its
 * key's index) comes from the operating system's file cache; with 2 MiB a scale-5 SQLite backup
 * used no more CPU (docs/performance.md §Round seven: backup peak RSS).
 */
export const SOURCE_CACHE_KIB = 2048

/** A read session on one SQLite file (see the module header). Made by `SqliteSource.open`. */
export class SqliteSource implements Source {
  readonly engine = 'sqlite' as const
  readonly capabilities = SQLITE_CAPABILITIES
  readonly #db: SqliteDatabase
  readonly #file: string
  readonly #database: string
  readonly #iterators = new Set<IterableIterator<unknown>>()
  #closed = false

  private constructor(db: SqliteDatabase, file: string, database: string) {
    this.#db = db
    this.#file = file
    this.#database = database
  }

  /**
   * Opens `config.url` (a file path) and takes the snapshot. Throws NotFoundError when the file
   * does not exist, UsageError when it is not a SQLite database, ConnectionError when it cannot
   * be opened or stays locked for `connectTimeoutMs`.
   */
  static open(config: ConnectionConfig): SqliteSource {
    const file = config.url
    const db = openReadOnly(file, config.connectTimeoutMs ?? 5000)
    try {
      withErrors({ file, action: 'opening' }, () => {
        db.pragma(`cache_size = -${SOURCE_CACHE_KIB}`)
        db.exec('BEGIN')
        // A deferred transaction takes its snapshot at the first read.
        db.prepare('SELECT count(*) FROM main.sqlite_schema').get()
      })
    } catch (error) {
      db.close()
      throw error
    }
    return new SqliteSource(db, file, config.database)
  }

  async describe(options?: { readonly tables?: readonly string[] }): Promise<DatabaseSchema> {
    this.#assertOpen()
    return withErrors({ file: this.#file, action: 'describing' }, () => describeDatabase(this.#db, this.#database, options))
  }

  async *readTable(table: TableSchema, options: ReadOptions = {}): AsyncGenerator<Row[]> {
    const names = table.columns.map((c) => c.name)
    const kinds = table.columns.map((c) => c.kind)
    for await (const batch of this.#rawBatches(table, table.columns.map((c) => quoteIdent(c.name)), options, options.batchSize ?? DEFAULT_BATCH_SIZE)) {
      yield batch.map((values) => {
        const row: Row = {}
        for (let i = 0; i < names.length; i++) row[names[i]] = encodeValue(values[i] as SqliteValue, kinds[i])
        return row
      })
    }
  }

  /**
   * The rows of readTable as record lines, the same bytes, without row objects: written by
   * SQLite itself where it spells values as JavaScript does (sqlRecordLines), else as text per
   * column kind (recordLineEncoder). The writer and the digest index take the bytes as they are
   * instead of each calling JSON.stringify on every row. Undefined for a table whose column
   * names JSON.stringify would reorder.
   */
  readRecordLines(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    this.#assertOpen()
    const batchSize = options.batchSize ?? LINES_BATCH_SIZE
    const quoted = table.columns.map((c) => ({ name: c.name, kind: c.kind, quoted: quoteIdent(c.name) }))
    const bySql = this.#utf8 ? sqlRecordLines(quoted) : undefined
    if (bySql !== undefined) {
      const batches = this.#rawBatches(table, bySql.select, options, batchSize)
      return (async function* () {
        for await (const batch of batches) yield finishChunk(Buffer.concat(batch.map(bySql.finish)))
      })()
    }
    const encode = recordLineEncoder(table.columns)
    if (encode === undefined) return undefined
    const batches = this.#rawBatches(table, quoted.map((c) => c.quoted), options, batchSize)
    return (async function* () {
      for await (const batch of batches) {
        let text = ''
        for (const values of batch) text += `${encode(values)}\n`
        yield Buffer.from(text)
      }
    })()
  }

  /** Does the file keep its text as UTF-8 (sqlRecordLines reads text as bytes)? */
  get #utf8(): boolean {
    return withErrors({ file: this.#file, action: 'reading' }, () => this.#db.pragma('encoding', { simple: true }) === 'UTF-8')
  }

  /**
   * `SELECT <select> … ORDER BY <primary key>` (rowid without one), in batches of at most
   * `batchSize` rows as read with `.raw()` (module header, step 2).
   */
  async *#rawBatches(table: TableSchema, select: readonly string[], options: ReadOptions, batchSize: number): AsyncGenerator<unknown[][]> {
    this.#assertOpen()
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize must be a positive integer, not ${batchSize}.`)
    const context = { file: this.#file, table: table.name, action: 'reading' }
    if (table.columns.length === 0) throw new UsageError(`Table "${table.name}" has no columns to read.`)
    const order = table.primaryKey.length > 0 ? table.primaryKey.map(quoteIdent).join(', ') : 'rowid'
    const sql = `SELECT ${select.join(', ')} FROM main.${quoteIdent(table.name)} ORDER BY ${order}`
    const iterator = withErrors(context, () => this.#db.prepare(sql).raw(true).iterate() as IterableIterator<unknown[]>)
    this.#iterators.add(iterator)
    try {
      for (;;) {
        options.signal?.throwIfAborted()
        const batch: unknown[][] = []
        let done = false
        withErrors(context, () => {
          while (batch.length < batchSize) {
            const next = iterator.next()
            if (next.done) {
              done = true
              break
            }
            batch.push(next.value)
          }
        })
        if (batch.length > 0) yield batch
        if (done) return
      }
    } finally {
      this.#iterators.delete(iterator)
      // Finalizes the statement; a no-op when the iterator already ran to its end.
      iterator.return?.()
    }
  }

  async stats(): Promise<DatabaseStats> {
    this.#assertOpen()
    return withErrors({ file: this.#file, action: 'measuring' }, () => readStats(this.#db, this.#file, this.#database))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const iterator of this.#iterators) iterator.return?.()
    this.#iterators.clear()
    try {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK')
    } finally {
      this.#db.close()
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new UsageError(`The SQLite source ${this.#file} is closed.`)
  }
}
