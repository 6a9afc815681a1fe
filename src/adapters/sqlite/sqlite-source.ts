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
 * With `openWithReader` (a backup's source), a second connection on its own thread shares the
 * snapshot and reads the record lines (sqlite-reader-thread.ts); everything else stays here.
 * Every read is a scan of whole tables, so the page cache is kept small (SOURCE_CACHE_KIB).
 */
import type { ConnectionConfig, DatabaseSchema, DatabaseStats, LineBlocks, ReadOptions, Row, Source, TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { ChunkPool } from '../../engine/buffer-reclaim.js'
import Database from 'better-sqlite3'
import { openReadOnly, quoteIdent, SQLITE_CAPABILITIES, toMergebackError, withErrors, type SqliteDatabase } from './sqlite-connection.js'
import { SqliteReaderThread } from './sqlite-reader-thread.js'
import { describeDatabase, readStats, type SqliteTableOptions } from './sqlite-introspector.js'
import { encodeValue, finishChunk, recordLineEncoder, sqlRecordLines, type SqliteValue } from './sqlite-values.js'

/** Rows per batch when the caller does not say. */
export const DEFAULT_BATCH_SIZE = 1000
/** Key ranges read by one statement in lineBlocks (docs/performance.md §Round seven: 16 against 1 and 64). */
const RANGES_PER_STEP = 16
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
/** How long openWithReader waits for the write lock before it reads on one thread (ms). */
const WRITE_LOCK_WAIT_MS = 100
/** Rowids read in key order by scatteredKeyOrder to judge a table's order (the first ones of the key's index). */
const ORDER_SAMPLE_ROWS = 1000
/** A step from one row to the next in key order is in file order when its rowid is at most this many ahead. */
const ORDER_NEAR_ROWS = 16
/** Chunks of a table read again row by row (a 0x01 in their block) after which #lineBlocksInOrder reads only rows. */
const GAPPED_CHUNKS_TO_ROWS = 4
/**
 * readRecordLines without a batchSize hands on chunks of at least this many bytes: its chunks of
 * LINES_BATCH_SIZE rows are gathered until they hold that much (gathered). The digest index
 * copies every chunk into a message buffer of at least 1.25 MiB and lets 2 MiB of lines be in
 * flight, so chunks of 60 KB (RoomAllocation's 500 rows) kept ~35 such buffers, 44 MB, alive at
 * once (docs/performance.md §Round fifteen: SQLite backup peak RSS).
 */
export const GATHER_BYTES = 512 * 1024
/** The size of the pooled chunks gathered chunks are copied into. */
const CHUNK_BYTES = 1 << 20
/** The rowid's names, which a column may take. */
const ROWID_NAMES = ['rowid', '_rowid_', 'oid']

/** A read session on one SQLite file (see the module header). Made by `SqliteSource.open`. */
export class SqliteSource implements Source {
  readonly engine = 'sqlite' as const
  readonly capabilities = SQLITE_CAPABILITIES
  readonly #db: SqliteDatabase
  readonly #file: string
  readonly #database: string
  readonly #iterators = new Set<IterableIterator<unknown>>()
  #reader: SqliteReaderThread | undefined
  /** The chunks gathered record lines are copied into (gathered), taken again once released (releaseChunk). */
  readonly #chunks = new ChunkPool(CHUNK_BYTES)
  #closed = false
  /** Why the record lines are read on this thread only, when a reader thread was asked for and could not be had. */
  readerNote: string | undefined

  private constructor(db: SqliteDatabase, file: string, database: string) {
    this.#db = db
    this.#file = file
    this.#database = database
  }

  /** Reads the record lines on a second thread (module header)? */
  get readerThread(): boolean {
    return this.#reader !== undefined
  }

  /**
   * As `open`, plus a reader thread in the same snapshot (sqlite-reader-thread.ts: the write lock
   * is held while both connections take their snapshots). When the lock is busy (a writer is at
   * work), the file cannot be written (read-only) or the thread cannot start, the source reads on
   * one connection as `open`'s does, and `readerNote` says why.
   */
  static async openWithReader(config: ConnectionConfig): Promise<SqliteSource> {
    const file = config.url
    const timeoutMs = config.connectTimeoutMs ?? 5000
    let lock: SqliteDatabase | undefined
    let note: string | undefined
    try {
      lock = new Database(file, { fileMustExist: true, timeout: WRITE_LOCK_WAIT_MS })
      lock.exec('BEGIN IMMEDIATE')
    } catch (error) {
      lock?.close()
      lock = undefined
      note = `the write lock could not be taken (${(error as Error).message})`
    }
    try {
      const source = SqliteSource.open(config)
      if (lock === undefined) {
        source.readerNote = `${file}: the record lines were read on one thread: ${note}.`
        return source
      }
      try {
        source.#reader = await SqliteReaderThread.start(file, timeoutMs, SOURCE_CACHE_KIB)
      } catch (error) {
        source.readerNote = `${file}: the record lines were read on one thread: the reader thread could not start (${(error as Error).message}).`
      }
      return source
    } finally {
      if (lock !== undefined) {
        try {
          if (lock.inTransaction) lock.exec('ROLLBACK')
        } finally {
          lock.close()
        }
      }
    }
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
   * SQLite itself where it spells values as JavaScript does (sqlRecordLines; a chunk at a time
   * where #lineBlocksInOrder can), else as text per
   * column kind (recordLineEncoder). The writer and the digest index take the bytes as they are
   * instead of each calling JSON.stringify on every row. Undefined for a table whose column
   * names JSON.stringify would reorder. Without `batchSize`, chunks of LINES_BATCH_SIZE rows are
   * gathered to at least GATHER_BYTES, in chunks of a pool the caller may give back (releaseChunk).
   */
  readRecordLines(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    const chunks = this.#recordLineChunks(table, options)
    // Without a batchSize (a backup's read) the chunks are gathered to GATHER_BYTES; a caller's batchSize is kept.
    return chunks === undefined || options.batchSize !== undefined ? chunks : gathered(chunks, this.#chunks)
  }

  /** readRecordLines' chunks as each path reads them: `batchSize` (LINES_BATCH_SIZE) rows each. */
  #recordLineChunks(table: TableSchema, options: ReadOptions): AsyncIterable<Buffer> | undefined {
    this.#assertOpen()
    const batchSize = options.batchSize ?? LINES_BATCH_SIZE
    const quoted = table.columns.map((c) => ({ name: c.name, kind: c.kind, quoted: quoteIdent(c.name) }))
    const bySql = this.#utf8 ? sqlRecordLines(quoted) : undefined
    const reader = this.#reader
    if (bySql !== undefined && reader !== undefined) {
      const sql = (): string => this.#selectSql(table, bySql.select, batchSize)
      const context = { file: this.#file, table: table.name, action: 'reading' }
      return (async function* () {
        try {
          for await (const chunk of reader.read(sql(), batchSize, options.signal)) yield finishChunk(bySql.splice(chunk.data, chunk.gaps))
        } catch (error) {
          throw toMergebackError(error, context)
        }
      })()
    }
    if (bySql !== undefined) {
      const blocks = this.#lineBlocksInOrder(table, batchSize, options)
      if (blocks !== undefined) return blocks
      const batches = this.#rawBatches(table, bySql.select, options, batchSize)
      return (async function* () {
        for await (const batch of batches) yield finishChunk(bySql.finishRows(batch))
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

  /**
   * Key ranges of the table (Source.lineBlocks), each read as one value: `group_concat` of the
   * record lines SQLite writes (sqlRecordLines), in key order, over the rows of the range, which
   * is `(key) >= (first key)` and `(key) < (next first key)` on the primary key's index. Exact
   * only where SQLite's order is the one the bound keys are checked in here: every key column an
   * INTEGER one (integers) or a TEXT one compared as bytes (no COLLATE anywhere in the table's
   * definition), none of them nullable (a NULL key is in no range), and the first keys strictly
   * increasing in that order. Tables with BLOB or untyped columns are declined: their values are
   * spelled by JavaScript, so nearly every range would be read again row by row. REAL and DECIMAL
   * columns are not: `block` spells a real as JavaScript does where that is shown exact
   * (sqlRealText; any other real is a 0x01, and its range is read with `rows`).
   */
  lineBlocks(table: TableSchema, firstKeys: readonly string[]): LineBlocks | undefined {
    this.#assertOpen()
    const key = table.primaryKey
    const byName = new Map(table.columns.map((c) => [c.name, c]))
    const keyKinds = key.map((name) => byName.get(name))
    if (key.length === 0 || keyKinds.some((c) => c === undefined || c.nullable || (c.kind !== 'bigint' && c.kind !== 'text'))) return undefined
    if (table.columns.some((c) => c.kind === 'binary' || c.kind === 'unknown')) return undefined
    const sql = (table.options as { sql?: unknown } | undefined)?.sql
    if (typeof sql !== 'string' || sql === '' || /collate/i.test(sql)) return undefined
    const quoted = table.columns.map((c) => ({ name: c.name, kind: c.kind, quoted: quoteIdent(c.name) }))
    const lines = this.#utf8 ? sqlRecordLines(quoted) : undefined
    // The ranges' lines with reals spelled by SQLite where that is exact (sqlRealText); `rows` as readRecordLines.
    const blockLines = this.#utf8 ? sqlRecordLines(quoted, { reals: true }) : undefined
    if (lines === undefined || blockLines === undefined) return undefined
    const bounds: (string | bigint)[][] = []
    const kinds = keyKinds.map((c) => c!.kind)
    for (const text of firstKeys) {
      const bound = boundKey(text, kinds)
      if (bound === undefined || (bounds.length > 0 && compareKeys(bounds[bounds.length - 1]!, bound) >= 0)) return undefined
      bounds.push(bound)
    }
    const keyColumns = key.map(quoteIdent)
    const order = keyColumns.join(', ')
    const [left, right] = key.length === 1 ? [keyColumns[0]!, '?'] : [`(${order})`, `(${key.map(() => '?').join(', ')})`]
    const from = `FROM main.${quoteIdent(table.name)}`
    const context = { file: this.#file, table: table.name, action: 'reading' }
    // Four statements each: with or without a lower and an upper bound.
    const prepared = (select: string, raw: boolean) => {
      const statements = [0, 1, 2, 3].map((shape) => {
        const where = [...(shape & 1 ? [`${left} >= ${right}`] : []), ...(shape & 2 ? [`${left} < ${right}`] : [])]
        const text = select.replace('<where>', where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`)
        return withErrors(context, () => (raw ? this.#db.prepare(text).raw(true) : this.#db.prepare(text).pluck(true)))
      })
      return (i: number) => {
        const shape = (i > 0 ? 1 : 0) | (i + 1 < bounds.length ? 2 : 0)
        const values = [...(i > 0 ? bounds[i]! : []), ...(i + 1 < bounds.length ? bounds[i + 1]! : [])]
        return { statement: statements[shape]!, values }
      }
    }
    // No ORDER BY (`group_concat(… ORDER BY key)` sorts every range, an ordered subquery is
    // materialized: each about twice the time): the range is read along the key's index, in key
    // order. Nothing relies on that order: lines concatenated in another order are other bytes, so
    // a range whose digest still matches holds the parent's lines in the parent's order.
    const blockOf = prepared(`SELECT CAST(group_concat(${blockLines.select[0]}, '') AS BLOB) ${from} <where>`, false)
    // Ranges with both bounds are read RANGES_PER_STEP at a time, as as many scalar subqueries of
    // one SELECT: a statement's bind, step and reset cost about as much as the range's lines.
    const one = `(SELECT CAST(group_concat(${blockLines.select[0]}, '') AS BLOB) ${from} WHERE ${left} >= ${right} AND ${left} < ${right})`
    let many: { get(...values: unknown[]): unknown } | undefined
    const rowsOf = prepared(`SELECT ${lines.select.join(', ')} ${from} <where> ORDER BY ${order}`, true)
    let ahead: { from: number; values: (Buffer | null)[] } | undefined
    return {
      block: (i) => {
        if (ahead !== undefined && i >= ahead.from && i < ahead.from + RANGES_PER_STEP) return ahead.values[i - ahead.from] ?? undefined
        if (i > 0 && i + RANGES_PER_STEP < bounds.length) {
          const values: (string | bigint)[] = []
          for (let j = i; j < i + RANGES_PER_STEP; j++) values.push(...bounds[j]!, ...bounds[j + 1]!)
          many ??= withErrors(context, () => this.#db.prepare(`SELECT ${Array<string>(RANGES_PER_STEP).fill(one).join(', ')}`).raw(true))
          const statement = many
          ahead = { from: i, values: withErrors(context, () => statement.get(...values)) as (Buffer | null)[] }
          return ahead.values[0] ?? undefined
        }
        const { statement, values } = blockOf(i)
        const value = withErrors(context, () => statement.get(...values)) as Buffer | null
        return value === null ? undefined : value
      },
      rows: (i) => {
        const { statement, values } = rowsOf(i)
        const rows = withErrors(context, () => statement.all(...values)) as unknown[][]
        return finishChunk(lines.finishRows(rows))
      },
      keyFrom: (text, i) => {
        const bound = boundKey(text, kinds)
        return bound === undefined ? undefined : compareKeys(bound, bounds[i]!) >= 0
      },
    }
  }

  /**
   * readRecordLines' chunks, each read as one value (docs/performance.md §Round fourteen: SQLite
   * backup): `group_concat` of the record lines SQLite writes (sqlRecordLines with `reals`, as
   * lineBlocks' ranges) of the next `batchSize` rows in key order, so that one Buffer per chunk
   * crosses into JavaScript instead of an array and a Buffer per row. The rows of a chunk are those
   * after the last one before it, `k > (the key of the row with that rowid)`, along the key's index
   * (`ORDER BY k LIMIT batchSize`), and the aggregate takes them in that order (streamedInOrder:
   * checked on the plan; else it concatenates them `ORDER BY k`, which copies every line into a
   * temporary B-tree first: Message at scale 5, 0.57 → 1.1–1.3 s). `max(k)` finds the chunk's last
   * row, and its rowid is a bare column beside it (SQLite takes a bare column from the row of the
   * one max()).
   * A chunk holding a 0x01 (a real that sqlRealText does not spell, a blob in a text column, …) is
   * read again row by row with its gaps filled (finishRows), the same rows by the same bound; after
   * GAPPED_CHUNKS_TO_ROWS such chunks, the rest of the table is read that way only.
   * For rowid tables (not WITHOUT ROWID, not virtual) in rowid order (no primary key, or a rowid
   * alias) or in the order of one key column that is not nullable, whose key order is not
   * scattered over the file (scatteredKeyOrder: those are read `NOT INDEXED` and sorted whole),
   * with no COLLATE in their definition (so that the key's index is in the order `ORDER BY k`
   * compares in), no column named as the rowid, and no BLOB or untyped column (spelled by
   * JavaScript: nearly every chunk would be read twice). Undefined for any other table.
   */
  #lineBlocksInOrder(table: TableSchema, batchSize: number, options: ReadOptions): AsyncIterable<Buffer> | undefined {
    const tableOptions = table.options as Partial<SqliteTableOptions> | undefined
    if (tableOptions?.withoutRowid !== false || tableOptions.virtual !== undefined) return undefined
    if (typeof tableOptions.sql !== 'string' || /collate/i.test(tableOptions.sql)) return undefined
    if (table.columns.some((c) => c.kind === 'binary' || c.kind === 'unknown' || ROWID_NAMES.includes(c.name.toLowerCase()))) return undefined
    const key = table.primaryKey
    const keyColumn = key.length === 1 ? table.columns.find((c) => c.name === key[0]) : undefined
    if (key.length > 1 || (key.length === 1 && (keyColumn === undefined || keyColumn.nullable))) return undefined
    const byRowid = keyColumn === undefined || keyColumn.autoIncrement === true
    if (!byRowid && scatteredKeyOrder(this.#db, table, this.#file)) return undefined
    const quoted = table.columns.map((c) => ({ name: c.name, kind: c.kind, quoted: quoteIdent(c.name) }))
    const lines = sqlRecordLines(quoted)
    const blockLines = sqlRecordLines(quoted, { reals: true })
    if (lines === undefined || blockLines === undefined) return undefined
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize must be a positive integer, not ${batchSize}.`)
    const from = `main.${quoteIdent(table.name)}`
    const k = byRowid ? 'rowid' : quoteIdent(key[0]!)
    const after = byRowid ? `WHERE rowid > ?` : `WHERE ${k} > (SELECT ${k} FROM ${from} WHERE rowid = ?)`
    // [lines, last rowid, rows] of the next chunk; its rows again, with the raw values and the rowid last.
    const block = (where: string, ordered: boolean) =>
      `SELECT CAST(group_concat(line, ''${ordered ? ' ORDER BY k' : ''}) AS BLOB), max(k), r, count(*) FROM ` +
      `(SELECT ${blockLines.select[0]} AS line, ${k} AS k, rowid AS r FROM ${from} ${where} ORDER BY 2 LIMIT ${batchSize})`
    const rows = (where: string) => `SELECT ${lines.select.join(', ')}, rowid FROM ${from} ${where} ORDER BY ${k} LIMIT ${batchSize}`
    const context = { file: this.#file, table: table.name, action: 'reading' }
    const db = this.#db
    const prepare = (sql: string) => withErrors(context, () => db.prepare(sql).raw(true))
    const blockStatement = (where: string) => {
      const plain = block(where, false)
      return prepare(streamedInOrder(db, plain, where === '' ? 0 : 1, context) ? plain : block(where, true))
    }
    const statements = { block: [blockStatement(''), blockStatement(after)], rows: [undefined, undefined] as (ReturnType<typeof prepare> | undefined)[] }
    const rowsStatement = (i: number) => (statements.rows[i] ??= prepare(rows(i === 0 ? '' : after)))
    const assertOpen = () => this.#assertOpen()
    return (async function* () {
      let last: bigint | undefined
      let gapped = 0
      for (;;) {
        options.signal?.throwIfAborted()
        assertOpen()
        const bound = last === undefined ? [] : [last]
        const step = last === undefined ? 0 : 1
        if (gapped < GAPPED_CHUNKS_TO_ROWS) {
          const [lineBlock, , rowid, count] = withErrors(context, () => statements.block[step]!.get(...bound)) as [Buffer | null, unknown, bigint, bigint]
          if (lineBlock === null) return
          if (lineBlock.indexOf(1) < 0) {
            yield finishChunk(lineBlock)
            if (count < BigInt(batchSize)) return
            last = rowid
            continue
          }
          gapped++
        }
        const statement = rowsStatement(step)
        const batch = withErrors(context, () => statement.all(...bound)) as unknown[][]
        if (batch.length === 0) return
        yield finishChunk(lines.finishRows(batch))
        if (batch.length < batchSize) return
        last = batch[batch.length - 1]![lines.select.length] as bigint
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
    const context = { file: this.#file, table: table.name, action: 'reading' }
    const sql = this.#selectSql(table, select, batchSize)
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

  /**
   * `SELECT <select> … ORDER BY <primary key>` (rowid without one), after checking the batch size
   * and the columns; `NOT INDEXED` when the key order is scattered over the file (scatteredKeyOrder).
   */
  #selectSql(table: TableSchema, select: readonly string[], batchSize: number): string {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize must be a positive integer, not ${batchSize}.`)
    if (table.columns.length === 0) throw new UsageError(`Table "${table.name}" has no columns to read.`)
    const order = table.primaryKey.length > 0 ? table.primaryKey.map(quoteIdent).join(', ') : 'rowid'
    const from = `main.${quoteIdent(table.name)}${scatteredKeyOrder(this.#db, table, this.#file) ? ' NOT INDEXED' : ''}`
    return `SELECT ${select.join(', ')} FROM ${from} ORDER BY ${order}`
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
      await this.#reader?.close()
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new UsageError(`The SQLite source ${this.#file} is closed.`)
  }
}

/**
 * Are the rows of a rowid table with a primary key (not a rowid alias) stored far from their key
 * order? Read along the key's index, each row is then fetched from another page than the last,
 * and with the small page cache (SOURCE_CACHE_KIB) most of them from the operating system again:
 * RoomAllocation at scale 5 (composite key, rows stored by room allocation time) cost 1.3–1.6 s
 * CPU that way against 0.65–0.7 s for `NOT INDEXED`, which makes SQLite scan the table in
 * file order and sort the rows by the key (docs/performance.md §Round eleven: SQLite backup).
 * The order is the same (the key is unique, compared with the same collations), so are the
 * bytes. The sort costs a table in file order 0.1–0.25 s more, so it is chosen only when most
 * of the first ORDER_SAMPLE_ROWS rows in key order are not within ORDER_NEAR_ROWS rowids after
 * the row before them. SQLite's sorter keeps a page cache's worth in memory and spills the rest
 * to a temporary file (SQLITE_TMPDIR, TMPDIR or /var/tmp), deleted when the statement ends.
 */
export function scatteredKeyOrder(db: SqliteDatabase, table: TableSchema, file: string): boolean {
  const options = table.options as Partial<SqliteTableOptions> | undefined
  if (table.primaryKey.length === 0 || options?.withoutRowid !== false || options.virtual !== undefined) return false
  if (table.columns.some((c) => c.autoIncrement === true)) return false
  // The rowid under a name no column takes (a column may be called rowid).
  const rowid = ROWID_NAMES.find((name) => !table.columns.some((c) => c.name.toLowerCase() === name))
  if (rowid === undefined) return false
  const order = table.primaryKey.map(quoteIdent).join(', ')
  const sql = `SELECT ${rowid} FROM main.${quoteIdent(table.name)} ORDER BY ${order} LIMIT ${ORDER_SAMPLE_ROWS}`
  const rowids = withErrors({ file, table: table.name, action: 'reading' }, () => db.prepare(sql).pluck(true).safeIntegers(true).all() as bigint[])
  let near = 0
  for (let i = 1; i < rowids.length; i++) {
    const step = rowids[i]! - rowids[i - 1]!
    if (step > 0n && step <= BigInt(ORDER_NEAR_ROWS)) near++
  }
  return near * 2 < rowids.length - 1
}

/**
 * The chunks of `chunks`, each gathered with the ones after it until they hold GATHER_BYTES (the
 * last one fewer): a chunk that holds that many alone is handed on as it is, several are copied
 * into one chunk of `pool`, which the caller may give back once it has taken the bytes
 * (releaseChunk). The same bytes in the same order, in fewer chunks.
 */
async function* gathered(chunks: AsyncIterable<Buffer>, pool: ChunkPool): AsyncGenerator<Buffer> {
  let pieces: Buffer[] = []
  let bytes = 0
  const joined = (): Buffer => {
    const all = pieces
    const size = bytes
    pieces = []
    bytes = 0
    if (all.length === 1) return all[0]!
    const chunk = pool.take(size)
    let at = 0
    for (const piece of all) at += piece.copy(chunk, at)
    return chunk.subarray(0, at)
  }
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue
    pieces.push(chunk)
    bytes += chunk.length
    if (bytes >= GATHER_BYTES) yield joined()
  }
  if (bytes > 0) yield joined()
}

/**
 * Does the plan of `sql` (with `parameters` parameters), an aggregate over a subquery
 * `… ORDER BY … LIMIT n`, feed the aggregate the subquery's rows in the subquery's order
 * (#lineBlocksInOrder)? SQLite documents the order in which group_concat
 * takes its rows as arbitrary unless it is given an ORDER BY of its own; what it does is run the
 * subquery as a co-routine (the LIMIT keeps it from being flattened, and its ORDER BY from being
 * dropped) and step the aggregate once per row the co-routine yields, in that order. This checks
 * that plan (`EXPLAIN QUERY PLAN`: a CO-ROUTINE, a SCAN of it, no temporary B-tree outside it);
 * any other plan, or a text this does not know, says no, and the caller orders the aggregate.
 */
export function streamedInOrder(db: SqliteDatabase, sql: string, parameters: number, context: { file: string; table: string; action: string }): boolean {
  const plan = withErrors(context, () => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array<null>(parameters).fill(null))) as { parent: unknown; detail: string }[]
  const coroutine = plan.find((step) => /^CO-ROUTINE /.test(step.detail))
  if (coroutine === undefined) return false
  const outer = plan.filter((step) => String(step.parent) === '0')
  return outer.length === 2 && outer[0] === coroutine && /^SCAN \(subquery-[0-9]+\)$/.test(outer[1]!.detail)
}

/**
 * The values to bind for a key text (JSON of the key's wire values) of INTEGER and TEXT key
 * columns: an integer's wire value is its decimal text, a text's the text. Undefined for any
 * other value (a storage-class tag, NULL): its order against the others is not checked here.
 */
function boundKey(text: string, kinds: readonly string[]): (string | bigint)[] | undefined {
  let values: unknown
  try {
    values = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!Array.isArray(values) || values.length !== kinds.length) return undefined
  const bound: (string | bigint)[] = []
  for (let i = 0; i < kinds.length; i++) {
    const value: unknown = values[i]
    if (typeof value !== 'string') return undefined
    if (kinds[i] === 'bigint') {
      if (!/^-?(0|[1-9][0-9]*)$/.test(value)) return undefined
      bound.push(BigInt(value))
    } else bound.push(value)
  }
  return bound
}

/** SQLite's order of two bound keys of the same kinds: integers by value, text as UTF-8 bytes (BINARY), column by column. */
function compareKeys(a: readonly (string | bigint)[], b: readonly (string | bigint)[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    const order = typeof x === 'bigint' ? (x < (y as bigint) ? -1 : x > (y as bigint) ? 1 : 0) : Buffer.compare(Buffer.from(x), Buffer.from(y as string))
    if (order !== 0) return order
  }
  return 0
}
