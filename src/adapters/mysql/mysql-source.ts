/**
 * Reading a MySQL/MariaDB database: one connection, one consistent snapshot, tables streamed in
 * primary-key order in bounded memory.
 *
 * 1. open: a dedicated connection (mysql-config session settings), then
 *    `SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ` and
 *    `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`: every later read, describe() and
 *    stats() included, sees the database as of that moment (InnoDB tables; describe() warns about
 *    tables in non-transactional engines, which no snapshot covers).
 * 2. readTable: one `SELECT … ORDER BY <primary key>` streamed with mysql2's query stream. The
 *    stream's buffer holds at most `batchSize` rows; when it is full mysql2 pauses the socket, so
 *    the server waits on TCP back-pressure until the consumer asks for the next batch. The record
 *    lines (readRecordLines and its kin) use no stream: the rows are written into one chunk Buffer
 *    from mysql2's row handler, and the socket is paused while a whole chunk waits (#lines).
 * 3. Leaving `for await` early: MySQL cannot cancel a result set from the client side, so the
 *    source sends `KILL QUERY <thread>` from a short-lived second connection and discards what is
 *    still in flight; the snapshot transaction survives (KILL QUERY ends the statement only).
 * 4. close: COMMIT (ends the read-only snapshot) and releases the connection.
 *
 * Only one readTable may be in progress at a time: the connection carries one result set.
 *
 * A second session of the same snapshot (`sessions: 2`, an increment's default): MariaDB cannot
 * export a snapshot, so the two are started under a table lock, as mydumper does
 * (docs/performance.md §Round nine). A third, short-lived session takes
 * `LOCK TABLES <every base table of the database> READ` (lock_wait_timeout 1 s); the main session
 * and the second one each run `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`; the third
 * unlocks and closes. A READ lock is granted only once no transaction holds a write lock on any of
 * those tables (DML keeps its metadata lock until the transaction ends), and no transaction can
 * write them until it is released; so no commit can change those tables between the two snapshots,
 * and both see the same rows of every locked table. Only readRowDigestBlocks uses the second
 * session, and only for tables that were locked. Where the lock cannot be taken (no LOCK TABLES
 * privilege, no SELECT on some table, a writer holding a table past the timeout, no connection
 * left), the source reads on one session, as before, with the same output.
 */
import type { Readable } from 'node:stream'
import type { RowDataPacket } from 'mysql2'
import type { Capabilities, ConnectionConfig, DatabaseSchema, DatabaseStats, ReadOptions, Row, RowDigestBlock, Source, TableSchema } from '../adapter.js'
import { InternalError, UsageError } from '../../errors.js'
import { endSession, openSession, toStatementError, type MysqlSession } from './mysql-config.js'
import { describeDatabase } from './mysql-introspector.js'
import { isStagingTable } from './mysql-staging.js'
import { recordLineParser, type RecordLineParser, type RowPacket } from './mysql-record-lines.js'
import { encoderFor, hasGeometry, quoteIdentifier, quoteString, rawGeometryTypeCast, selectExpression, typeClassOf, valueExpression, type MysqlTypeClass } from './mysql-values.js'
import { DigestBlock, rowDigestExpression, rowDigestScope, rowDigestSql } from './mysql-row-digest.js'

/**
 * The SQL literal of a key's wire value, for the key classes matched exactly by `=` (numbers
 * written as numbers, so a BIGINT is never compared as a double), or undefined for the others.
 * A value that is not of its column's wire form is an InternalError: the keys come from the
 * snapshot's own lines.
 */
function keyLiteral(cls: MysqlTypeClass): ((value: unknown) => string) | undefined {
  const bad = (value: unknown): never => {
    throw new InternalError(`a key value ${JSON.stringify(value)} is not of its column's wire form (${cls})`)
  }
  switch (cls) {
    case 'integer':
    case 'year':
      return (v) => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : bad(v))
    case 'bigint':
      return (v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? v : bad(v))
    case 'decimal':
      return (v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? v : bad(v))
    case 'text':
    case 'enum':
      return (v) => (typeof v === 'string' ? quoteString(v) : bad(v))
    case 'date':
      return (v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\d$/.test(v) ? `DATE'${v}'` : bad(v))
    case 'binary':
      return (v) => (typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) ? `X'${Buffer.from(v, 'base64').toString('hex')}'` : bad(v))
    default:
      return undefined
  }
}

/**
 * Rows per batch when the caller does not say. Small batches let rows die young: reading 1 M rows
 * took 3.4–4.5 s with 1000-row batches and 4.5–5.5 s with 5000 (more of them reached the old
 * generation before the consumer let go), at lower peak RSS.
 */
const DEFAULT_BATCH_SIZE = 1000

/**
 * A chunk of record lines is cut once its pool has less than this left, so that the next row
 * starts a new pool without the chunk so far being copied there (a row longer than this still is).
 */
const CHUNK_ROOM_BYTES = 64 * 1024

/** The part of mysql2's core (callback) Query object the stream reader uses. */
interface CoreQuery {
  stream(options: { highWaterMark: number }): Readable
  on(event: 'end', listener: () => void): CoreQuery
  on(event: 'error', listener: (error: Error) => void): CoreQuery
  on(event: 'fields', listener: (fields: readonly unknown[]) => void): CoreQuery
}

/** A query's command as followCommand sees it. */
interface FollowedCommand {
  /** Resolves once the server is done with the command. */
  readonly completed: Promise<void>
  readonly finished: boolean
}

/**
 * Follows a query's command to its end, for both read paths: its 'end', or a fatal error (the
 * connection is gone, and no 'end' follows). `on.end` and `on.error` run after the command's
 * state is updated; a non-fatal error leaves the command running.
 */
function followCommand(query: CoreQuery, on: { end: () => void; error: (error: Error) => void }): FollowedCommand {
  let finished = false
  const completed = new Promise<void>((resolve) => {
    query.on('end', () => {
      finished = true
      resolve()
      on.end()
    })
    query.on('error', (error: Error & { fatal?: boolean }) => {
      if (error.fatal) {
        finished = true
        resolve()
      }
      on.error(error)
    })
  })
  return {
    completed,
    get finished() {
      return finished
    },
  }
}

interface CoreConnection {
  readonly threadId: number
  query(options: { sql: string; rowsAsArray: boolean; typeCast?: unknown }): CoreQuery
  /** Stops reading the socket; packets already read wait until resume(), which handles them first. */
  pause(): void
  resume(): void
}

/**
 * readRowDigestBlocks: the bytes of one block's concatenated entries (group_concat_max_len): each
 * block's rows are three quarters of it by the entries read so far.
 */
const BLOCK_BYTES = 1 << 20
/** The entry's bytes the first block is sized by: a 16-byte digest and a key of about 30. */
const FIRST_ENTRY_BYTES = 48
const MAX_BLOCK_ROWS = 100_000

/**
 * Seconds the lock for a second session may wait (lock_wait_timeout): while LOCK TABLES waits for
 * a writer, the server queues new writers of that table behind it, so a busy application must not
 * be stalled longer than this; past it the source reads on one session.
 */
const SHARED_SNAPSHOT_LOCK_WAIT_SECONDS = 1

/** The two sessions of one snapshot, while the lock that makes them one is held (openSharedSnapshot). */
interface SharedSnapshot {
  readonly lock: MysqlSession
  readonly second: MysqlSession
  readonly tables: ReadonlySet<string>
}

/**
 * Opens the lock session and the second session and locks every base table of the database for
 * reading (staging tables of a restore are never read, and a running restore holds them).
 * Undefined, with nothing left open, when that cannot be done: the caller then reads on one session.
 */
async function openSharedSnapshot(config: ConnectionConfig): Promise<SharedSnapshot | undefined> {
  const opened: MysqlSession[] = []
  try {
    const lock = await openSession(config)
    opened.push(lock)
    const second = await openSession(config)
    opened.push(second)
    const [rows] = await lock.connection.query<RowDataPacket[]>(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
    )
    const tables = new Set(rows.map((r) => String(r.name)).filter((name) => !isStagingTable(name)))
    if (tables.size === 0) throw new Error('no table to lock')
    // Set before the lock, which is held for as little as possible.
    await second.connection.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
    // autocommit on: LOCK TABLES then takes only metadata locks, bounded by lock_wait_timeout
    // (with it off, InnoDB would also take table locks, waited for up to innodb_lock_wait_timeout).
    await lock.connection.query(`SET SESSION autocommit = 1, SESSION lock_wait_timeout = ${SHARED_SNAPSHOT_LOCK_WAIT_SECONDS}, SESSION innodb_lock_wait_timeout = ${SHARED_SNAPSHOT_LOCK_WAIT_SECONDS}`)
    await lock.connection.query(`LOCK TABLES ${[...tables].map((name) => `${quoteIdentifier(name)} READ`).join(', ')}`)
    return { lock, second, tables }
  } catch {
    for (const session of opened) await endSession(session)
    return undefined
  }
}

/** readRecordLinesByKeys puts at most about this many characters of key literals in one statement (MariaDB's max_allowed_packet is 16 MiB by default, MySQL's 64 MiB). */
const KEYS_SQL_BYTES = 1024 * 1024

/** A MySQL/MariaDB read session. Created by `mysqlAdapter.openSource()`. */
export class MysqlSource implements Source {
  readonly engine = 'mysql' as const
  readonly capabilities: Capabilities
  readonly #session: MysqlSession
  /** A second session of the same snapshot, for readRowDigestBlocks of the tables in `#shared`. */
  readonly #second: MysqlSession | undefined
  readonly #shared: ReadonlySet<string>
  #closed = false
  /** The read in progress, if any: close() must stop it, or its COMMIT would queue behind the result set forever. */
  #reading: { stop(): Promise<void> } | undefined

  private constructor(session: MysqlSession, capabilities: Capabilities, second: MysqlSession | undefined, shared: ReadonlySet<string>) {
    this.#session = session
    this.capabilities = capabilities
    this.#second = second
    this.#shared = shared
  }

  /**
   * Connects and starts the snapshot. With `sessions` above 1, a second session of the same
   * snapshot is started under a table lock (module comment); when that cannot be done the source
   * has one session, which is not an error. Throws ConnectionError when the server cannot be used.
   */
  static async open(config: ConnectionConfig, capabilities: Capabilities, options: { readonly sessions?: number } = {}): Promise<MysqlSource> {
    const session = await openSession(config)
    let shared: SharedSnapshot | undefined
    let second: MysqlSession | undefined
    try {
      await session.connection.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
      if ((options.sessions ?? 1) > 1) shared = await openSharedSnapshot(config)
      await session.connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
      if (shared !== undefined) {
        second = await shared.second.connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY').then(
          () => shared!.second,
          () => undefined,
        )
      }
    } catch (error) {
      if (shared !== undefined) await endSession(shared.second)
      await endSession(session)
      throw toStatementError(error, { action: 'starting the consistent snapshot' })
    } finally {
      // Held for the two START TRANSACTIONs only: ending the lock session releases it in any case.
      if (shared !== undefined) {
        await shared.lock.connection.query('UNLOCK TABLES').catch(() => undefined)
        await endSession(shared.lock)
      }
    }
    if (shared !== undefined && second === undefined) await endSession(shared.second)
    return new MysqlSource(session, capabilities, second, second === undefined ? new Set() : shared!.tables)
  }

  /** The sessions readRowDigestBlocks reads a locked table on: 2 when the second session of the snapshot was started, else 1. */
  get digestSessions(): number {
    return this.#second === undefined ? 1 : 2
  }

  #assertUsable(): void {
    if (this.#closed) throw new UsageError('This MySQL source is closed.', { code: 'CLOSED' })
    if (this.#reading !== undefined) throw new UsageError('A MySQL source reads one table at a time: finish or leave the current readTable() first.', { code: 'BUSY' })
  }

  async describe(options: { readonly tables?: readonly string[] } = {}): Promise<DatabaseSchema> {
    this.#assertUsable()
    try {
      const schema = await describeDatabase(this.#session.connection, this.#session.config.database, this.#session.flavor, options)
      // Staging tables of a restore (running, or killed before its swap) are not the database's data.
      return { ...schema, tables: schema.tables.filter((t) => !isStagingTable(t.name)) }
    } catch (error) {
      throw toStatementError(error, { action: 'describing the database' })
    }
  }

  readTable(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Row[]> {
    return this.#read(table, options)
  }

  async *#read(table: TableSchema, options: ReadOptions): AsyncGenerator<Row[]> {
    const names = table.columns.map((c) => c.name)
    const encoders = table.columns.map((c) => encoderFor(c))
    for await (const batch of this.#stream(table, options, hasGeometry(table.columns) ? { typeCast: rawGeometryTypeCast } : {})) {
      const rows: Row[] = new Array(batch.length)
      for (let r = 0; r < batch.length; r++) {
        const values = batch[r] as unknown[]
        const row: Row = {}
        for (let i = 0; i < names.length; i++) row[names[i]] = encoders[i](values[i])
        rows[r] = row
      }
      yield rows
    }
  }

  /**
   * The backup's fast path: the same rows as readTable, each record line written byte by byte
   * from the row packet (mysql-record-lines.ts), with no value decoded into a JS value where its
   * text already is its JSON, and no row object. Undefined for a table with a column of a type
   * the line parser does not know, or a name a JS object would reorder (an array index).
   */
  readRecordLines(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    const parser = recordLineParser(table.columns)
    if (parser === undefined) return undefined
    return this.#lines(table, options, parser)
  }

  /**
   * The lines of a table (or of `query`) in chunks of at most `batchSize` rows, each chunk one
   * Buffer the parser wrote its lines into one after the other (RecordLineParser.append), cut
   * early when its pool is nearly full. mysql2's 'result' event is not listened to and no stream
   * is made: the row packets go to the parser from mysql2's row handler, and the socket is paused
   * while a whole chunk waits for the consumer, which holds the server back by TCP back-pressure
   * (docs/performance.md §Round ten: MariaDB backup memory and CPU).
   */
  async *#lines(table: TableSchema, options: ReadOptions, parser: RecordLineParser, query?: { sql: string; columns: number }): AsyncGenerator<Buffer> {
    this.#assertUsable()
    const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE)
    const sql = query?.sql ?? `SELECT ${table.columns.map((c) => selectExpression(c)).join(', ')} FROM ${quoteIdentifier(table.name)}${table.primaryKey.length > 0 ? ` ORDER BY ${table.primaryKey.map(quoteIdentifier).join(', ')}` : ''}`
    const expected = query?.columns ?? table.columns.length
    const core = (this.#session.connection as unknown as { connection: CoreConnection }).connection
    const coreQuery = core.query({ sql, rowsAsArray: true })
    // Chunks cut and not yet handed out, in order; the socket is paused while one waits.
    const ready: Buffer[] = []
    let rows = 0
    let paused = false
    let dropping = false
    let failure: unknown
    let wake: (() => void) | undefined
    const notify = (): void => {
      const resume = wake
      wake = undefined
      resume?.()
    }
    const cut = (): void => {
      ready.push(parser.take(CHUNK_ROOM_BYTES))
      rows = 0
      if (!paused && !dropping) {
        paused = true
        core.pause()
      }
      notify()
    }
    let checked: Error | undefined
    coreQuery.on('fields', (fields) => {
      if (fields.length !== expected) checked = new InternalError(`reading ${table.name}: ${fields.length} columns arrived for ${expected}`)
    })
    const rowParser = {
      next: (packet: RowPacket): undefined => {
        if (dropping) return undefined
        if (checked !== undefined) throw checked
        parser.append(packet)
        if (++rows >= batchSize || parser.nearlyFull(CHUNK_ROOM_BYTES)) cut()
        return undefined
      },
    }
    Object.defineProperty(coreQuery, '_rowParser', { configurable: true, get: () => rowParser, set: () => {} })
    const command = followCommand(coreQuery, {
      end: () => {
        if (!dropping && parser.pending > 0) ready.push(parser.take())
        notify()
      },
      error: (error) => {
        failure ??= error
        notify()
      },
    })
    const signal = options.signal
    signal?.addEventListener('abort', notify, { once: true })
    let stopping: Promise<void> | undefined
    const drop = (): void => {
      dropping = true
      ready.length = 0
      parser.take()
      if (paused) {
        paused = false
        core.resume()
      }
    }
    const stop = (): Promise<void> => (stopping ??= command.finished ? Promise.resolve() : this.#cancel(core.threadId, drop, command.completed))
    this.#reading = {
      stop: () => {
        failure ??= new UsageError('The MySQL source was closed during the read.', { code: 'CLOSED' })
        notify()
        return stop()
      },
    }
    try {
      for (;;) {
        if (failure !== undefined) throw toStatementError(failure, { table: table.name, action: `reading ${table.name}` })
        if (signal?.aborted) throw signal.reason
        const chunk = ready.shift()
        if (chunk !== undefined) {
          if (paused && ready.length === 0) {
            paused = false
            // Hands the packets that arrived with the last read to the parser at once: it may cut and pause again.
            core.resume()
          }
          yield chunk
          continue
        }
        if (command.finished) return
        await new Promise<void>((resolve) => {
          wake = resolve
        })
      }
    } finally {
      signal?.removeEventListener('abort', notify)
      await stop()
      this.#reading = undefined
    }
  }

  /**
   * Row stamps for incremental backups (storage/row-stamps.ts): MariaDB has no row version, so
   * the stamp is a digest of the row the server computes (mysql-row-digest.ts), and the scope
   * names its expression. Undefined for a table without a key, with a key column that
   * readRecordLinesByKeys cannot match, or with a column whose type the digest or the record
   * lines do not cover.
   */
  async rowStampScope(table: TableSchema): Promise<{ scope: string; xid: string; kind: 'digest' } | undefined> {
    // The scope names the digest's definition; the server runs rowDigestSql, the same bytes.
    const expression = this.#digestExpression(table) === undefined ? undefined : rowDigestExpression(table.columns)
    return expression === undefined ? undefined : { scope: rowDigestScope(expression), xid: '0', kind: 'digest' }
  }

  #digestExpression(table: TableSchema): string | undefined {
    if (table.primaryKey.length === 0 || recordLineParser(table.columns) === undefined) return undefined
    // Stamps are of no use where the changed rows cannot be fetched by key: no digest is computed,
    // and no second pass reads them after an increment hashed the table's lines.
    const key = this.#keyColumns(table)
    if (key === undefined || key.some((c) => keyLiteral(typeClassOf(c.type)) === undefined)) return undefined
    return rowDigestSql(table.columns)
  }

  /** The key columns' schemas, in key order, or undefined when one is not a column. */
  #keyColumns(table: TableSchema): TableSchema['columns'] | undefined {
    const columns = table.primaryKey.map((name) => table.columns.find((c) => c.name === name))
    return columns.some((c) => c === undefined) ? undefined : (columns as TableSchema['columns'])
  }

  /** Per row, in key order, `<key text>\x02<row digest>\n`: only keys and digests cross the wire. */
  readRowStamps(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    const expression = this.#digestExpression(table)
    const key = this.#keyColumns(table)
    const parser = key === undefined ? undefined : recordLineParser(key, { array: true, stamp: true })
    if (expression === undefined || key === undefined || parser === undefined) return undefined
    const sql = `SELECT ${key.map((c) => valueExpression(c)).join(', ')}, ${expression} FROM ${quoteIdentifier(table.name)} ORDER BY ${table.primaryKey.map(quoteIdentifier).join(', ')}`
    return this.#lines(table, { batchSize: 5000, ...options }, parser, { sql, columns: key.length + 1 })
  }

  /**
   * The rows' digests in blocks of consecutive rows in key order, one result row per block
   * (docs/performance.md §Round seven): the server concatenates, per block, each row's digest (16
   * bytes) and its key (each key column as uint16be(byte length) + its text as a SELECT sends it),
   * so that the client handles one packet per block instead of one per row, and reads a row's key
   * only when its digest is not the parent's. A block is the rows after the previous block's last
   * key up to and including the key `n` rows further (`ORDER BY key LIMIT 1 OFFSET n - 1`): both
   * bounds compared by the server, so the blocks cover the table exactly whatever the keys'
   * collations. Within a block the rows come in the order the server read the range (key order
   * in practice; the caller does not rely on it). Undefined where readRowStamps is, and for an
   * ENUM key column (ORDER BY sorts it by its number, `>` by its label).
   */
  readRowDigestBlocks(table: TableSchema, options: { readonly blockBytes?: number } = {}): AsyncIterable<RowDigestBlock> | undefined {
    const expression = this.#digestExpression(table)
    const key = this.#keyColumns(table)
    const parser = key === undefined ? undefined : recordLineParser(key, { array: true })
    if (expression === undefined || key === undefined || parser === undefined) return undefined
    const classes = key.map((c) => typeClassOf(c.type))
    if (classes.includes('enum')) return undefined
    const literals = classes.map((cls) => keyLiteral(cls)!)
    const refs = key.map((c) => quoteIdentifier(c.name))
    // A key column's text as a SELECT of it sends it (text converted to the connection's utf8mb4),
    // as bytes: in a CONCAT with the digest's bytes, text would turn them into its character set.
    const texts = key.map((c, i) => `CAST(${classes[i] === 'text' ? `CONVERT(${refs[i]} USING utf8mb4)` : valueExpression(c)} AS BINARY)`)
    // CHAR(n) is n's bytes without leading zeros: padded to two (a key text is at most 65535 bytes, as the index takes them).
    const encodedKey = `CONCAT(${texts.map((t) => `LPAD(CHAR(LENGTH(${t})), 2, CHAR(0)), ${t}`).join(', ')})`
    const entry = `CONCAT(UNHEX(${expression}), ${encodedKey})`
    const from = quoteIdentifier(table.name)
    const orderBy = refs.join(', ')
    // The rows after the key `values` in key order (nested, so that the server reads a range of
    // the key's index), or up to it.
    const compared = (values: readonly unknown[], after: boolean): string => {
      let condition = ''
      for (let i = key.length - 1; i >= 0; i--) {
        const literal = literals[i]!(values[i])
        const last = `${refs[i]} ${after ? '>' : '<='} ${literal}`
        condition = condition === '' ? last : `${refs[i]} ${after ? '>' : '<'} ${literal} OR (${refs[i]} = ${literal} AND (${condition}))`
      }
      return `(${condition})`
    }
    const range = (after: unknown[] | undefined, upTo: unknown[] | undefined): string => {
      const conditions = [...(after === undefined ? [] : [compared(after, true)]), ...(upTo === undefined ? [] : [compared(upTo, false)])]
      return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`
    }
    const keyValues = (encoded: Buffer): unknown[] => JSON.parse(DigestBlock.keyText(parser, encoded, 0).toString('utf8')) as unknown[]
    // group_concat_max_len: at least 4; a result over max_allowed_packet would be NULL.
    const blockBytes = Math.max(4, Math.min(options.blockBytes ?? BLOCK_BYTES, this.#session.maxAllowedPacket - 1024))
    // The second session of the snapshot takes every other block, where the table was locked
    // when the two snapshots started (module comment): both see the same rows.
    const lanes = [this.#session.connection, ...(this.#second !== undefined && this.#shared.has(table.name) ? [this.#second.connection] : [])]
    const self = this
    const asBuffers = { rowsAsArray: true, typeCast: (field: { buffer(): Buffer | null }) => field.buffer() }
    type Lane = (typeof lanes)[number]
    const rowsOf = async (lane: Lane, sql: string): Promise<(Buffer | null)[][]> => (await lane.query<RowDataPacket[]>({ sql, ...asBuffers }))[0] as unknown as (Buffer | null)[][]
    // The key `rows` rows after `after` (the last key of the block that starts there), or
    // undefined when fewer rows are left.
    const boundary = async (lane: Lane, after: unknown[] | undefined, rows: number): Promise<unknown[] | undefined> => {
      const found = await rowsOf(lane, `SELECT ${encodedKey} FROM ${from}${range(after, undefined)} ORDER BY ${orderBy} LIMIT 1 OFFSET ${rows - 1}`)
      return found.length === 0 ? undefined : keyValues(found[0]![0]!)
    }
    // The block's entries as the server concatenated them; when the concatenation is not whole
    // (NULL, or cut short: group_concat_max_len, max_allowed_packet), read again one row each.
    const block = async (lane: Lane, after: unknown[] | undefined, upTo: unknown[] | undefined): Promise<DigestBlock> => {
      // The bound's literal must be its row's key, or the blocks would not meet (a key text that
      // did not read back, say): the row is counted, and the read fails rather than miss rows.
      const bound = upTo === undefined ? '' : `, SUM(${refs.map((r, i) => `${r} = ${literals[i]!(upTo[i])}`).join(' AND ')})`
      const [count, data, found] = (await rowsOf(lane, `SELECT COUNT(*), GROUP_CONCAT(${entry} SEPARATOR '')${bound} FROM ${from}${range(after, upTo)}`))[0]!
      if (upTo !== undefined && found?.toString('latin1') !== '1') throw new InternalError(`reading the row digests of ${table.name}: the key ${JSON.stringify(upTo)} that ends a block was not found again by its value`)
      const expected = Number(count!.toString('latin1'))
      const whole = expected === 0 ? DigestBlock.of(Buffer.alloc(0), 0, parser, key.length) : data === null ? undefined : DigestBlock.of(data, expected, parser, key.length)
      if (whole !== undefined) return whole
      const entries = (await rowsOf(lane, `SELECT ${entry} FROM ${from}${range(after, upTo)} ORDER BY ${orderBy}`)).map((r) => r[0]!)
      const read = DigestBlock.of(Buffer.concat(entries), entries.length, parser, key.length)
      if (read === undefined || entries.length !== expected) throw new InternalError(`reading the row digests of ${table.name}: a row's digest and key are not whole`)
      return read
    }
    this.#assertUsable()
    return (async function* () {
      self.#assertUsable()
      // Every statement sent and not yet answered: stop() and the end wait for them, so that the
      // sessions are idle before anything else is sent (or COMMIT would queue behind them).
      const queued = new Set<Promise<unknown>>()
      const queue = <T>(promise: Promise<T>): Promise<T> => {
        queued.add(promise)
        promise.then(
          () => queued.delete(promise),
          () => queued.delete(promise),
        )
        return promise
      }
      // Blocks sent and not yet handed over, in key order; at most `window` of them (two per
      // session: one being read, one queued behind it), so that a slow caller holds the server
      // back (each block is at most blockBytes).
      const window = 2 * lanes.length
      const sent: Promise<DigestBlock>[] = []
      let taken = 0
      let stopped = false
      let sending: Promise<void> | undefined
      let sendingDone = false
      let wakeTaker: (() => void) | undefined
      let wakeSender: (() => void) | undefined
      const wake = (which: 'taker' | 'sender'): void => {
        const resume = which === 'taker' ? wakeTaker : wakeSender
        if (which === 'taker') wakeTaker = undefined
        else wakeSender = undefined
        resume?.()
      }
      self.#reading = {
        stop: async () => {
          stopped = true
          wake('sender')
          await sending?.catch(() => undefined)
          await Promise.allSettled([...queued])
        },
      }
      // The session's own value is put back after: nothing else this session runs should see the budget.
      let previous: string | undefined
      let rows = Math.max(1, Math.floor((0.75 * blockBytes) / FIRST_ENTRY_BYTES))
      try {
        previous = String((await rowsOf(lanes[0]!, 'SELECT @@SESSION.group_concat_max_len'))[0]![0]!.toString('latin1'))
        for (const lane of lanes) await lane.query(`SET SESSION group_concat_max_len = ${blockBytes}`)
        // Block j goes to session j mod lanes, after the bound of block j + 1 on the same session:
        // that bound is answered before block j is read, so block j + 1 can be sent to the other
        // session while block j is read, and each session has its next block queued before it
        // ends the current one. The bounds are a chain (each is `rows` rows after the previous),
        // the blocks' digests (nearly all of the server's work) run side by side.
        sending = (async () => {
          let after: unknown[] | undefined
          let upTo = await queue(boundary(lanes[0]!, undefined, rows))
          for (let j = 0; !stopped; j++) {
            while (!stopped && sent.length - taken >= window) await new Promise<void>((resolve) => (wakeSender = resolve))
            if (stopped) return
            const lane = lanes[j % lanes.length]!
            const next = upTo === undefined ? undefined : queue(boundary(lane, upTo, rows))
            const read = queue(block(lane, after, upTo))
            read.catch(() => undefined)
            sent.push(read)
            wake('taker')
            if (next === undefined) return
            after = upTo
            upTo = await next
          }
        })().finally(() => {
          sendingDone = true
          wake('taker')
        })
        sending.catch(() => undefined)
        for (;;) {
          if (taken === sent.length) {
            if (sendingDone) break
            await new Promise<void>((resolve) => (wakeTaker = resolve))
            continue
          }
          const current = await sent[taken]!
          // Not kept: the caller's block is its own from here.
          sent[taken] = undefined as unknown as Promise<DigestBlock>
          taken++
          wake('sender')
          // Three quarters of the budget by the latest block's mean entry: keys vary in length,
          // and a block over the budget is cut by the server and read again one row each.
          if (current.count > 0) rows = Math.max(1, Math.min(MAX_BLOCK_ROWS, Math.floor((0.75 * blockBytes) / (current.bytes.length / current.count))))
          if (current.count > 0) yield current
        }
        await sending
      } catch (error) {
        throw error instanceof InternalError ? error : toStatementError(error, { table: table.name, action: `reading the row digests of ${table.name}` })
      } finally {
        stopped = true
        wake('sender')
        await sending?.catch(() => undefined)
        await Promise.allSettled([...queued])
        if (previous !== undefined && /^\d+$/.test(previous)) {
          for (const lane of lanes) await lane.query(`SET SESSION group_concat_max_len = ${previous}`).catch(() => undefined)
        }
        self.#reading = undefined
      }
    })()
  }

  /** readRecordLines with each row's digest after its line (`<line>\x02<digest>\n`), in the same SELECT. */
  readRecordLinesWithStamps(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    const expression = this.#digestExpression(table)
    const parser = recordLineParser(table.columns, { stamp: true })
    if (expression === undefined || parser === undefined) return undefined
    const sql = `SELECT ${table.columns.map((c) => selectExpression(c)).join(', ')}, ${expression} FROM ${quoteIdentifier(table.name)} ORDER BY ${table.primaryKey.map(quoteIdentifier).join(', ')}`
    return this.#lines(table, options, parser, { sql, columns: table.columns.length + 1 })
  }

  /**
   * The record lines of the rows with these keys (wire values), in key order. Undefined when a
   * key column is of a kind not matched exactly here (only integers, DECIMAL, text, ENUM, binary
   * and DATE keys are). Nothing is run until the lines are read.
   */
  readRecordLinesByKeys(table: TableSchema, keys: readonly (readonly unknown[])[], options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    const key = this.#keyColumns(table)
    const parser = recordLineParser(table.columns)
    if (key === undefined || parser === undefined) return undefined
    const literals = key.map((c) => keyLiteral(typeClassOf(c.type)))
    if (literals.some((l) => l === undefined)) return undefined
    const tuple = (values: readonly unknown[]): string => {
      if (values.length !== key.length) throw new InternalError(`${table.name}: a key of ${values.length} values for ${key.length} key columns`)
      const texts = values.map((v, i) => literals[i]!(v))
      return key.length === 1 ? texts[0]! : `(${texts.join(', ')})`
    }
    const columns = key.length === 1 ? quoteIdentifier(key[0]!.name) : `(${key.map((c) => quoteIdentifier(c.name)).join(', ')})`
    const self = this
    return (async function* () {
      // One statement per KEYS_SQL_BYTES of key literals: long keys must not pass max_allowed_packet.
      let tuples: string[] = []
      let bytes = 0
      const select = (): string =>
        `SELECT ${table.columns.map((c) => selectExpression(c)).join(', ')} FROM ${quoteIdentifier(table.name)} WHERE ${columns} IN (${tuples.join(', ')}) ORDER BY ${table.primaryKey.map(quoteIdentifier).join(', ')}`
      for (const values of keys) {
        const text = tuple(values)
        if (tuples.length > 0 && bytes + text.length > KEYS_SQL_BYTES) {
          yield* self.#lines(table, options, parser, { sql: select(), columns: table.columns.length })
          tuples = []
          bytes = 0
        }
        tuples.push(text)
        bytes += text.length + 2
      }
      if (tuples.length > 0) yield* self.#lines(table, options, parser, { sql: select(), columns: table.columns.length })
    })()
  }

  /**
   * The table's rows in key order, in arrays of `batchSize`, as mysql2 decodes them (with
   * `typeCast`). The record lines are read by #lines.
   */
  async *#stream(
    table: TableSchema,
    options: ReadOptions,
    how: { typeCast?: typeof rawGeometryTypeCast },
  ): AsyncGenerator<unknown[]> {
    this.#assertUsable()
    const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE)
    const columns = table.columns
    const orderBy = table.primaryKey.length > 0 ? ` ORDER BY ${table.primaryKey.map(quoteIdentifier).join(', ')}` : ''
    const sql = `SELECT ${columns.map((c) => selectExpression(c)).join(', ')} FROM ${quoteIdentifier(table.name)}${orderBy}`

    // The promise wrapper has no stream(); its callback-API connection (untyped there) does.
    const core = (this.#session.connection as unknown as { connection: CoreConnection }).connection
    const query = core.query({ sql, rowsAsArray: true, ...(how.typeCast !== undefined ? { typeCast: how.typeCast } : {}) })
    let failure: unknown
    let wake: (() => void) | undefined
    const notify = (): void => {
      const resume = wake
      wake = undefined
      resume?.()
    }
    // The command's own 'end' fires once the server is done with it, whatever the stream saw.
    const command = followCommand(query, {
      end: notify,
      error: (error) => {
        failure ??= error
        notify()
      },
    })
    const stream = query.stream({ highWaterMark: batchSize })
    let ended = false
    stream.on('end', () => {
      ended = true
      notify()
    })
    stream.on('error', (error) => {
      failure ??= error
      notify()
    })
    stream.on('readable', notify)
    const signal = options.signal
    signal?.addEventListener('abort', notify, { once: true })
    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> => (stopping ??= command.finished ? Promise.resolve() : this.#cancel(core.threadId, () => stream.destroy(), command.completed))
    this.#reading = {
      stop: () => {
        failure ??= new UsageError('The MySQL source was closed during the read.', { code: 'CLOSED' })
        notify()
        return stop()
      },
    }

    try {
      for (;;) {
        const batch: unknown[] = []
        while (batch.length < batchSize) {
          if (failure !== undefined) throw toStatementError(failure, { table: table.name, action: `reading ${table.name}` })
          if (signal?.aborted) throw signal.reason
          const values = stream.read() as unknown
          if (values !== null) {
            batch.push(values)
            continue
          }
          if (ended) break
          await new Promise<void>((resolve) => {
            wake = resolve
          })
        }
        if (batch.length > 0) yield batch
        if (batch.length < batchSize) {
          if (failure !== undefined) throw toStatementError(failure, { table: table.name, action: `reading ${table.name}` })
          return
        }
      }
    } finally {
      signal?.removeEventListener('abort', notify)
      await stop()
      this.#reading = undefined
    }
  }

  /** Stops a result set the consumer no longer wants, keeping the connection and its snapshot. */
  async #cancel(threadId: number, drop: () => void, completed: Promise<void>): Promise<void> {
    // Resumes the socket and drops every row still arriving.
    drop()
    try {
      const killer = await openSession(this.#session.config)
      try {
        // If the SELECT finished meanwhile, KILL QUERY finds an idle connection and does nothing.
        await killer.connection.query(`KILL QUERY ${Number(threadId)}`)
      } finally {
        await endSession(killer)
      }
    } catch {
      // Without a second connection the rows are drained instead: slower, same outcome.
    }
    await completed
  }

  async stats(): Promise<DatabaseStats> {
    this.#assertUsable()
    const connection = this.#session.connection
    try {
      const [sizes] = await connection.query<RowDataPacket[]>(
        `SELECT TABLE_NAME AS name, DATA_LENGTH + INDEX_LENGTH AS size FROM information_schema.TABLES
          WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME`,
        [this.#session.config.database],
      )
      const tables: { name: string; rows: number; sizeBytes: number | null }[] = []
      let total = 0
      for (const row of sizes) {
        const [counted] = await connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(String(row.name))}`)
        const size = row.size === null ? null : Number(row.size)
        total += size ?? 0
        tables.push({ name: String(row.name), rows: Number(counted[0].n), sizeBytes: size })
      }
      return { engine: 'mysql', database: this.#session.config.database, version: this.#session.version, sizeBytes: total, tables }
    } catch (error) {
      throw toStatementError(error, { action: 'reading database statistics' })
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // A consumer that neither finished nor left its read (an abandoned iterator) still holds the
    // connection's result set.
    await this.#reading?.stop()
    for (const session of this.#second === undefined ? [this.#session] : [this.#session, this.#second]) {
      try {
        await session.connection.query('COMMIT')
      } catch {
        // The snapshot ends with the connection anyway.
      }
      await endSession(session)
    }
  }
}
