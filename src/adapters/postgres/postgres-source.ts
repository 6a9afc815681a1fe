/**
 * Reading a PostgreSQL database: one REPEATABLE READ, READ ONLY transaction per Source, so that
 * every table is read from the same snapshot (what pg_dump does).
 *
 * readTable algorithm (chosen by measurement, see docs/adapters.md §PostgreSQL):
 *   1. `SAVEPOINT`, then `COPY (SELECT cols FROM ONLY t ORDER BY pk) TO STDOUT` in text format.
 *      PostgreSQL does no per-value work beyond its output functions; COPY avoids the per-row
 *      protocol messages and driver parsing of a cursor.
 *   2. The COPY output is read off the socket into chunks of lines (postgres-copy-out.ts), only
 *      while the consumer wants rows: when it stops pulling, the socket stops being read and TCP pushes back on
 *      the server, so memory is bounded by one batch plus the socket buffers.
 *   3. Each line is split on tabs, unescaped, and every field turned into its wire value by the
 *      column's decoder (postgres-values.ts). Rows are yielded in batches of `batchSize` rows
 *      (or fewer when they pass 16 MB).
 *   4. Leaving early (break, throw, abort): a CancelRequest stops the COPY, the rest of the
 *      stream is drained, and `ROLLBACK TO SAVEPOINT` clears the cancelled statement while
 *      keeping the snapshot, so the Source remains usable for the next table.
 *
 * One Source runs one statement at a time: a second readTable while one is being consumed is
 * a UsageError (it could never start, because the first one holds the connection).
 *
 * @module
 */
import os from 'node:os'
import { StringDecoder } from 'node:string_decoder'
import type pg from 'pg'
import type { Capabilities, ConnectionConfig, DatabaseSchema, DatabaseStats, ReadOptions, Row, Source, SourceOptions, TableSchema } from '../adapter.js'
import { InternalError, UsageError } from '../../errors.js'
import { cancelRunningStatement, openSession, readyForQuery, toDatabaseError } from './postgres-connection.js'
import { compareNames, introspect, toDatabaseSchema, type PgColumn, type PgTable } from './postgres-introspector.js'
import { qualify, quoteIdent, unescapeCopyText } from './postgres-sql.js'
import { CHUNK_SLACK_BYTES, CopyOut } from './postgres-copy-out.js'
import { ChunkPool } from '../../engine/buffer-reclaim.js'
import { jsonExpression, readExpression, textDecoder, type TextDecoder } from './postgres-values.js'
import { collatedKeyColumn, hasKeyOrder } from '../key-order.js'
import { SplitSessions, readInTwoParts, splitMinBytes, splittableKind, type Split } from './postgres-split-read.js'

/** What PostgreSQL can do (adapter.ts Capabilities). */
export const POSTGRES_CAPABILITIES: Capabilities = Object.freeze({
  consistentSnapshot: true,
  transactionalWrite: true,
  transactionalDdl: true,
  bulkLoad: 'copy',
})

const DEFAULT_BATCH_SIZE = 5000
/** readRecordLines hands out chunks of about this size (whole lines). */
const LINES_CHUNK_BYTES = 1024 * 1024
/** A batch is cut early once its rows' text passes this size, so wide rows stay bounded too. */
const MAX_BATCH_CHARS = 16 * 1024 * 1024

/** Type parsers that return PostgreSQL's text unchanged: every value goes through our decoders. */
export const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value }

/**
 * Reads rows of one table in wire encoding, from COPY text lines or from query results. Shared
 * by PostgresSource.readTable and PostgresDestination.readByKeys so that both give exactly the
 * same wire values.
 */
export class RowCodec {
  /** The SELECT list, one expression per column, for a table aliased `t`. */
  readonly selectList: string
  readonly #names: readonly string[]
  readonly #decoders: readonly TextDecoder[]
  readonly #hasProtoName: boolean

  constructor(columns: readonly PgColumn[]) {
    this.#names = columns.map((c) => c.schema.name)
    this.#decoders = columns.map((c) => textDecoder(c.schema.kind, c.schema.elementKind, c.type.delimiter))
    this.selectList = columns.map((c) => readExpression(c.type, `t.${quoteIdent(c.schema.name)}`)).join(', ')
    this.#hasProtoName = this.#names.includes('__proto__')
  }

  /** Decodes one COPY text-format line (without its newline). */
  decodeLine(line: string): Row {
    const names = this.#names
    if (names.length === 0) return {}
    const fields = line.split('\t')
    if (fields.length !== names.length) {
      throw new InternalError(`COPY returned ${fields.length} fields where ${names.length} columns were selected.`)
    }
    const decoders = this.#decoders
    if (this.#hasProtoName) return this.#withProto(fields.map((f, i) => (f === '\\N' ? null : decoders[i](unescapeCopyText(f)))))
    const row: Row = {}
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]
      row[names[i]] = field === '\\N' ? null : decoders[i](unescapeCopyText(field))
    }
    return row
  }

  /** Decodes one query result row (rowMode 'array', RAW_TEXT_TYPES). */
  decodeValues(values: readonly (string | null)[]): Row {
    const names = this.#names
    const decoders = this.#decoders
    if (this.#hasProtoName) return this.#withProto(values.map((value, i) => (value === null ? null : decoders[i](value))))
    const row: Row = {}
    for (let i = 0; i < values.length; i++) {
      const value = values[i]
      row[names[i]] = value === null ? null : decoders[i](value)
    }
    return row
  }

  /** A column really named __proto__ must become an own property, not the row's prototype. */
  #withProto(values: readonly Row[string][]): Row {
    const row: Row = {}
    this.#names.forEach((name, i) => Object.defineProperty(row, name, { value: values[i], enumerable: true, writable: true, configurable: true }))
    return row
  }
}

/** The name readRecordLinesWithStamps gives the xmin column beside the table's own (a table with a column of that name is read in two passes). */
const STAMP_COLUMN = 'mergeback xmin'

/** A string literal (standard_conforming_strings is on in every session mergeback opens). */
function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/** ` ORDER BY` the key columns, or nothing for a table without a key. */
function orderByKey(table: PgTable): string {
  const key = table.schema.primaryKey
  return key.length > 0 ? ` ORDER BY ${key.map((c) => keyColumnInOrder(table, c, 't')).join(', ')}` : ''
}

/**
 * Key column `name` of `table` (aliased `alias`) as the rows are sorted by it: with `COLLATE "C"`
 * for a text column of a key in the key order of adapters/key-order.ts (its UTF-8 bytes, which an
 * increment can compare on its side), so that a backup's index is written in that order and the
 * next increment can merge it with the rows as a stream (docs/performance.md §Round ten). Other
 * keys keep their columns' own collations.
 */
export function keyColumnInOrder(table: PgTable, name: string, alias: string): string {
  const column = table.columns.find((c) => c.schema.name === name)
  // A column whose collation already sorts by code point is read in its index's order: COLLATE "C"
  // would make PostgreSQL sort the whole table (the planner does not know C.UTF-8 is that order).
  const collated = column !== undefined && !column.codePointOrder && collatedKeyColumn(column.schema) && hasKeyOrder(table.schema)
  return `${alias}.${quoteIdent(name)}${collated ? ' COLLATE "C"' : ''}`
}

/**
 * Each key column's value as its JSON text (`to_json` of the column's JSON expression), the parts
 * of a key text as the record lines spell it; undefined when a key column has no such expression.
 */
function keyJsonParts(table: PgTable, primaryKey: readonly string[]): string[] | undefined {
  const parts: string[] = []
  for (const name of primaryKey) {
    const found = table.columns.find((c) => c.schema.name === name)
    if (!found) return undefined
    const expression = jsonExpression(found.type, found.schema.kind, found.schema.elementKind, `t.${quoteIdent(found.schema.name)}`)
    if (expression === undefined) return undefined
    parts.push(`pg_catalog.to_json(${expression})::text`)
  }
  return parts
}

/** `FROM ONLY t` for ordinary tables (inheritance children are tables of their own), `FROM t` for partitioned ones. */
export function fromClause(schema: string, table: PgTable): string {
  return `${table.relkind === 'r' ? 'ONLY ' : ''}${qualify(schema, table.schema.name)} AS t`
}

/**
 * The SELECT whose rows `r` make record lines (`row_to_json(r)`: `{"name":value,…}` without
 * spaces, keys in column order, each value in its wire form): one JSON expression per column
 * (postgres-values.ts jsonExpression), in key order when `ordered`. Undefined when a column has no
 * such expression (the caller then takes the parsed path). Every record-line and row-digest read,
 * of the source and of the destination, is built here so that all spell a row alike.
 * `where` is appended after FROM (`t` is the table); `extra` is one more output column.
 */
export function recordLineSelect(
  schema: string,
  table: PgTable,
  columns: readonly string[],
  options: { readonly where?: string; readonly ordered?: boolean; readonly extra?: string } = {},
): string | undefined {
  if (columns.length === 0) return undefined
  const expressions: string[] = []
  for (const name of columns) {
    const found = table.columns.find((c) => c.schema.name === name)
    if (!found) throw new UsageError(`Table "${table.schema.name}" has no column "${name}".`)
    const expression = jsonExpression(found.type, found.schema.kind, found.schema.elementKind, `t.${quoteIdent(name)}`)
    if (expression === undefined) return undefined
    expressions.push(`${expression} AS ${quoteIdent(name)}`)
  }
  if (options.extra !== undefined) expressions.push(options.extra)
  return `SELECT ${expressions.join(', ')} FROM ${fromClause(schema, table)}${options.where ?? ''}${options.ordered ? orderByKey(table) : ''}`
}

/**
 * SQL of the digest of a record line: the first 16 bytes of SHA-256 of `row_to_json(<row>)`'s
 * text in UTF-8, as 32 hex digits (what digest-index.ts shortDigest and merge's lineDigest give
 * for the same line).
 */
export function recordLineDigest(row: string): string {
  return `pg_catalog.encode(pg_catalog.substring(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.row_to_json(${row})::text, 'UTF8')), 1, 16), 'hex')`
}

/**
 * COPY output (`chunks`) as chunks of whole lines, at least LINES_CHUNK_BYTES each when there is
 * that much; an output that ends inside a line is an InternalError. A chunk that already is one
 * (#copyOut's are, a spool's are not) is passed on as it is, not copied.
 */
async function* wholeLines(chunks: AsyncIterable<Buffer>, table: PgTable, options: ReadOptions): AsyncGenerator<Buffer, void, undefined> {
  let pending: Buffer[] = []
  let pendingBytes = 0
  for await (const chunk of chunks) {
    const lastNewline = chunk.lastIndexOf(0x0a)
    if (lastNewline === -1 || pendingBytes + lastNewline + 1 < LINES_CHUNK_BYTES) {
      pending.push(chunk)
      pendingBytes += chunk.length
      continue
    }
    pending.push(chunk.subarray(0, lastNewline + 1))
    const whole = joined(pending, pendingBytes + lastNewline + 1)
    // A part line kept for the next chunk is copied: `whole` may be a view of `chunk`, and the
    // backup may give a chunk back to its pool once `whole` is written (releaseChunk).
    pending = lastNewline + 1 < chunk.length ? [Buffer.from(chunk.subarray(lastNewline + 1))] : []
    pendingBytes = chunk.length - lastNewline - 1
    yield whole
    options.signal?.throwIfAborted()
  }
  if (pendingBytes > 0) {
    const rest = joined(pending, pendingBytes)
    if (rest[rest.length - 1] !== 0x0a) throw new InternalError(`COPY output of "${table.schema.name}" ended inside a row.`)
    yield rest
  }
}

/** `parts` (`bytes` in all) as one Buffer: the part itself when there is one. */
function joined(parts: readonly Buffer[], bytes: number): Buffer {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes)
}

/**
 * Where to cut `table`, read on `client`, between it and the helper of `sessions`
 * (postgres-split-read.ts), or undefined to read it whole there (no plain first key column, and
 * SplitSessions.split's reasons). The cut is in the order the rows are sorted by (orderByKey), so
 * that the two parts follow each other in it.
 */
export async function splitTable(sessions: SplitSessions, client: pg.Client, schema: string, table: PgTable): Promise<Split | undefined> {
  const keyName = table.schema.primaryKey[0]
  const column = table.columns.find((c) => c.schema.name === keyName)
  if (column === undefined || !splittableKind(column.schema.kind)) return undefined
  return sessions.split(client, table, keyColumnInOrder(table, keyName, 't'), fromClause(schema, table))
}

/**
 * A read session on one snapshot. Created by `postgresAdapter.openSource()`; the caller must
 * close() it (which also ends the snapshot).
 */
export class PostgresSource implements Source {
  readonly engine = 'postgres' as const
  readonly capabilities = POSTGRES_CAPABILITIES
  readonly #client: pg.Client
  readonly #config: ConnectionConfig
  readonly #schema: string
  readonly #described = new Map<string, PgTable>()
  /** The COPY reads' chunks, taken again once the backup releases them (the file has their bytes). */
  readonly #chunks = new ChunkPool(LINES_CHUNK_BYTES + CHUNK_SLACK_BYTES)
  #busy = false
  #closed = false
  /** The exported snapshot and its helper, when a big table may be read on a second session (postgres-split-read.ts). */
  readonly #split: SplitSessions | undefined

  private constructor(client: pg.Client, config: ConnectionConfig, split: SplitSessions | undefined) {
    this.#client = client
    this.#config = config
    this.#schema = config.schema ?? 'public'
    this.#split = split
  }

  /** The tables read on two sessions so far (postgres-split-read.ts), in order. */
  get splitTables(): readonly string[] {
    return this.#split?.tables ?? []
  }

  /**
   * Connects and starts the snapshot. With `sessions` above 1, the snapshot is exported so that
   * readRecordLines may read a big table on a second session (postgres-split-read.ts); a server
   * that cannot export it is read on one. `splitMinBytes` (tests): the smallest table split.
   * Throws ConnectionError when the database cannot be reached.
   */
  static async open(config: ConnectionConfig, options: SourceOptions & { readonly splitMinBytes?: number } = {}): Promise<PostgresSource> {
    const client = await openSession(config)
    let snapshot: string | undefined
    try {
      const begin = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'
      await client.query(begin)
      if ((options.sessions ?? 1) > 1) snapshot = await SplitSessions.exportSnapshot(client, begin)
    } catch (error) {
      await client.end().catch(() => {})
      throw toDatabaseError(error, { action: 'starting the snapshot' })
    }
    const split = snapshot === undefined ? undefined : new SplitSessions(config, snapshot, { minBytes: options.splitMinBytes ?? splitMinBytes(), spoolDir: options.spoolDir ?? os.tmpdir() })
    return new PostgresSource(client, config, split)
  }

  async describe(options?: { readonly tables?: readonly string[] }): Promise<DatabaseSchema> {
    this.#assertIdle('describe')
    try {
      const introspection = await introspect(this.#client, this.#schema, options?.tables)
      for (const table of introspection.tables) this.#described.set(table.schema.name, table)
      return toDatabaseSchema(introspection, this.#config.database, this.#schema)
    } catch (error) {
      throw toDatabaseError(error, { action: 'describing the schema' })
    }
  }

  readTable(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Row[]> {
    return { [Symbol.asyncIterator]: () => this.#read(table, options) }
  }

  async *#read(table: TableSchema, options: ReadOptions): AsyncGenerator<Row[], void, undefined> {
    this.#assertIdle(`read "${table.name}"`)
    this.#busy = true
    try {
      const pgTable = await this.#resolve(table)
      const columns = table.columns.map((column) => {
        const found = pgTable.columns.find((c) => c.schema.name === column.name)
        if (!found) throw new UsageError(`Table "${table.name}" has no column "${column.name}".`)
        return found
      })
      yield* this.#copyRows(pgTable, columns, options)
    } finally {
      this.#busy = false
    }
  }

  async *#copyRows(table: PgTable, columns: readonly PgColumn[], options: ReadOptions): AsyncGenerator<Row[], void, undefined> {
    const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE)
    const codec = new RowCodec(columns)
    const select = `SELECT ${codec.selectList} FROM ${fromClause(this.#schema, table)}${orderByKey(table)}`
    const decoder = new StringDecoder('utf8')
    let rest = ''
    let batch: Row[] = []
    let batchChars = 0
    for await (const chunk of this.#copyOut(`COPY (${select}) TO STDOUT`, table, options)) {
      const text = rest + decoder.write(chunk)
      let start = 0
      let newline: number
      while ((newline = text.indexOf('\n', start)) !== -1) {
        batch.push(codec.decodeLine(text.slice(start, newline)))
        batchChars += newline - start
        start = newline + 1
        if (batch.length >= batchSize || batchChars >= MAX_BATCH_CHARS) {
          const full = batch
          batch = []
          batchChars = 0
          yield full
          options.signal?.throwIfAborted()
        }
      }
      rest = text.slice(start)
    }
    if (rest + decoder.end() !== '') throw new InternalError(`COPY output of "${table.schema.name}" ended inside a row.`)
    if (batch.length > 0) yield batch
  }

  readRecordLines(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    this.#assertIdle(`read "${table.name}"`)
    const pgTable = this.#described.get(table.name)
    if (pgTable === undefined) return undefined
    const inner = recordLineSelect(this.#schema, pgTable, table.columns.map((c) => c.name), { ordered: true })
    if (inner === undefined) return undefined
    // CSV with a delimiter and quote no JSON text can hold unescaped (control characters are
    // \u-escaped in JSON) passes each line through untouched: text format would double every
    // backslash of the JSON.
    const copy = (where?: string): string =>
      `COPY (SELECT pg_catalog.row_to_json(r) FROM (${recordLineSelect(this.#schema, pgTable, table.columns.map((c) => c.name), { ordered: true, where })}) AS r) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`
    return { [Symbol.asyncIterator]: () => this.#splitLines(copy, pgTable, options) }
  }

  /**
   * readRecordLines with each row's xmin (as readRowStamps): `<record line>\x02<xmin>\n`, so that
   * a full backup takes its row stamps in the same pass as its lines (docs/performance.md §Round
   * five). The line is row_to_json of a row of the table's columns only (the sub-select, as in
   * readRowDigests), so its bytes are readRecordLines'. Undefined where either would be.
   */
  readRecordLinesWithStamps(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    this.#assertIdle(`read "${table.name}"`)
    const pgTable = this.#described.get(table.name)
    if (pgTable === undefined || pgTable.relkind !== 'r' || table.primaryKey.length === 0) return undefined
    const stamp = quoteIdent(STAMP_COLUMN)
    if (table.columns.some((c) => c.name === STAMP_COLUMN)) return undefined
    const select = (where?: string): string | undefined =>
      recordLineSelect(this.#schema, pgTable, table.columns.map((c) => c.name), { ordered: true, extra: `t.xmin AS ${stamp}`, where })
    if (select() === undefined) return undefined
    const row = `(SELECT r FROM (SELECT ${table.columns.map((c) => `s.${quoteIdent(c.name)}`).join(', ')}) AS r)`
    const copy = (where?: string): string =>
      `COPY (SELECT pg_catalog.row_to_json(${row}), s.${stamp} FROM (${select(where)}) AS s) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`
    return { [Symbol.asyncIterator]: () => this.#splitLines(copy, pgTable, options) }
  }

  readRowDigests(table: TableSchema, options: ReadOptions & { readonly changedSince?: { readonly column: string; readonly time: string } } = {}): AsyncIterable<Buffer> | undefined {
    this.#assertIdle(`read "${table.name}"`)
    const pgTable = this.#described.get(table.name)
    if (pgTable === undefined || table.primaryKey.length === 0) return undefined
    // No ORDER BY: the subquery is then flattened and CASE computes the JSON only for the rows
    // it hashes (all of them, unless changedSince narrows it to rows whose column is at or after
    // the time; the others get NULL, an empty field).
    const recent = options.changedSince
      ? `(t.${quoteIdent(options.changedSince.column)} IS NULL OR t.${quoteIdent(options.changedSince.column)} >= ${quoteLiteral(options.changedSince.time)})`
      : 'true'
    const flag = quoteIdent('mergeback recent')
    const inner = recordLineSelect(this.#schema, pgTable, table.columns.map((c) => c.name), { extra: `${recent} AS ${flag}` })
    if (inner === undefined) return undefined
    const row = `(SELECT r FROM (SELECT ${table.columns.map((c) => `s.${quoteIdent(c.name)}`).join(', ')}) AS r)`
    const key = `pg_catalog.json_build_array(${table.primaryKey.map((c) => `s.${quoteIdent(c)}`).join(', ')})::text`
    const sql = `COPY (SELECT ${key}, CASE WHEN s.${flag} THEN ${recordLineDigest(row)} END FROM (${inner}) AS s) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`
    return { [Symbol.asyncIterator]: () => this.#lines(sql, pgTable, options) }
  }

  readRecordLinesByKeys(table: TableSchema, keys: readonly (readonly unknown[])[], options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    this.#assertIdle(`read "${table.name}"`)
    const pgTable = this.#described.get(table.name)
    if (pgTable === undefined || table.primaryKey.length === 0) return undefined
    // The keys go in as JSON and json_populate_recordset converts each wire value with the
    // column type's own input function: exact for the kinds whose wire value is that text.
    const exact = new Set(['integer', 'bigint', 'decimal', 'text', 'date', 'timestamp', 'timestamptz', 'time', 'enum', 'boolean', 'interval'])
    const keyColumns = table.primaryKey.map((name) => table.columns.find((c) => c.name === name))
    if (keyColumns.some((c) => c === undefined || !exact.has(c.kind))) return undefined
    const records = keys.map((values) => Object.fromEntries(table.primaryKey.map((name, i) => [name, values[i]])))
    const literal = `'${JSON.stringify(records).replace(/'/g, "''")}'::json`
    const columns = table.primaryKey.map((c) => quoteIdent(c))
    const where = ` WHERE (${columns.map((c) => `t.${c}`).join(', ')}) IN (SELECT ${columns.map((c) => `k.${c}`).join(', ')} FROM pg_catalog.json_populate_recordset(NULL::${qualify(this.#schema, table.name)}, ${literal}) AS k)`
    const inner = recordLineSelect(this.#schema, pgTable, table.columns.map((c) => c.name), { where, ordered: true })
    if (inner === undefined) return undefined
    const sql = `COPY (SELECT pg_catalog.row_to_json(r) FROM (${inner}) AS r) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`
    return { [Symbol.asyncIterator]: () => this.#lines(sql, pgTable, options) }
  }

  /**
   * Incremental backups (docs/performance.md §Incremental backups): where the rows of `table`
   * live (database oid, table oid, file node: a rewrite of the table changes it) and the
   * snapshot's next transaction id (64-bit). Undefined for a table other than an ordinary one.
   */
  async rowStampScope(table: TableSchema): Promise<{ scope: string; xid: string } | undefined> {
    this.#assertIdle(`read "${table.name}"`)
    const pgTable = this.#described.get(table.name)
    if (pgTable === undefined || pgTable.relkind !== 'r' || table.primaryKey.length === 0) return undefined
    const result = await this.#query(
      `SELECT d.oid::text || ':' || $1::oid::text || ':' || pg_catalog.pg_relation_filenode($1::oid)::text AS scope,
              pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot())::text AS xid
         FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()`,
      { action: 'reading a table\'s file node', table: table.name },
      [pgTable.oid],
    )
    const row = result.rows[0] as { scope: string | null; xid: string } | undefined
    return row?.scope ? { scope: row.scope, xid: row.xid } : undefined
  }

  /**
   * Per row of `table`, `<key text>\x02<xmin>\n`: the key text exactly as readRecordLines' line
   * spells the key columns (each `to_json` of the same expression, joined by `,` in `[` `]`), and
   * the transaction that wrote this version of the row. Only keys and a number cross the wire and
   * no row is turned into JSON. Undefined when a key column has no JSON expression.
   */
  readRowStamps(table: TableSchema, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    this.#assertIdle(`read "${table.name}"`)
    const pgTable = this.#described.get(table.name)
    if (pgTable === undefined || pgTable.relkind !== 'r' || table.primaryKey.length === 0) return undefined
    const parts = keyJsonParts(pgTable, table.primaryKey)
    if (parts === undefined) return undefined
    const key = `'[' || ${parts.join(` || ',' || `)} || ']'`
    const sql = `COPY (SELECT ${key}, t.xmin FROM ${fromClause(this.#schema, pgTable)}) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`
    return { [Symbol.asyncIterator]: () => this.#lines(sql, pgTable, options) }
  }

  /**
   * readRowStamps in the key order of adapters/key-order.ts (undefined for a key outside it), each
   * line `<key text>\x02<xmin>\x02<digest>\n`: `<digest>` is the record line's (32 hex digits,
   * as readRowDigests') for a row whose xmin is at or after transaction `since` (modulo 2^32: the
   * parent's snapshot's next transaction id, so every row written since the parent, and a few
   * more), empty for the others. An increment then merges these with its parent's entries in one
   * pass, and writes a changed row's index entry where it stands (engine/incremental-stream.ts).
   */
  readRowStampsInKeyOrder(table: TableSchema, since: string, options: ReadOptions = {}): AsyncIterable<Buffer> | undefined {
    this.#assertIdle(`read "${table.name}"`)
    const pgTable = this.#described.get(table.name)
    if (pgTable === undefined || pgTable.relkind !== 'r' || !hasKeyOrder(table) || !/^\d+$/.test(since)) return undefined
    const names = { stamp: 'mergeback xmin', recent: 'mergeback recent', key: 'mergeback key' }
    const order = table.primaryKey.map((_, i) => `mergeback order ${i}`)
    if (table.columns.some((c) => Object.values(names).includes(c.name) || order.includes(c.name))) return undefined
    const parts = keyJsonParts(pgTable, table.primaryKey)
    if (parts === undefined) return undefined
    const from = (BigInt(since) % 4294967296n).toString()
    const recent = `((t.xmin::text::bigint - ${from} + 4294967296) % 4294967296) < 2147483648`
    const extra = [
      `'[' || ${parts.join(` || ',' || `)} || ']' AS ${quoteIdent(names.key)}`,
      `t.xmin AS ${quoteIdent(names.stamp)}`,
      `${recent} AS ${quoteIdent(names.recent)}`,
      ...table.primaryKey.map((name, i) => `${keyColumnInOrder(pgTable, name, 't')} AS ${quoteIdent(order[i]!)}`),
    ].join(', ')
    const inner = recordLineSelect(this.#schema, pgTable, table.columns.map((c) => c.name), { extra })
    if (inner === undefined) return undefined
    const row = `(SELECT r FROM (SELECT ${table.columns.map((c) => `s.${quoteIdent(c.name)}`).join(', ')}) AS r)`
    // No ORDER BY inside: the sub-select is flattened, so the digest is computed before the sort,
    // only for the recent rows, and the sort holds keys, xmins and those digests, not the rows.
    const sql = `COPY (SELECT s.${quoteIdent(names.key)}, s.${quoteIdent(names.stamp)}, CASE WHEN s.${quoteIdent(names.recent)} THEN ${recordLineDigest(row)} END FROM (${inner}) AS s ORDER BY ${order.map((o) => `s.${quoteIdent(o)}`).join(', ')}) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`
    return { [Symbol.asyncIterator]: () => this.#lines(sql, pgTable, options) }
  }

  /** Chunks of whole lines (at least LINES_CHUNK_BYTES when there is that much) of a COPY. */
  async *#lines(sql: string, table: PgTable, options: ReadOptions): AsyncGenerator<Buffer, void, undefined> {
    this.#assertIdle(`read "${table.schema.name}"`)
    this.#busy = true
    try {
      yield* wholeLines(this.#copyOut(sql, table, options), table, options)
    } finally {
      this.#busy = false
    }
  }

  /**
   * #lines of `copy()`, read on two sessions when the table is big enough (#split): the rows
   * before the bound on this one, those from it on the helper, spooled meanwhile and passed on
   * after the first part, so the consumer gets the bytes `copy()` alone gives.
   */
  async *#splitLines(copy: (where?: string) => string, table: PgTable, options: ReadOptions): AsyncGenerator<Buffer, void, undefined> {
    this.#assertIdle(`read "${table.schema.name}"`)
    this.#busy = true
    try {
      const sessions = this.#split
      const split = sessions && (await splitTable(sessions, this.#client, this.#schema, table))
      const spool = split && (await split.helper.spool(copy(split.after), table.schema.name, sessions!.spoolDir).catch(() => undefined))
      if (split === undefined || spool === undefined) {
        yield* wholeLines(this.#copyOut(copy(), table, options), table, options)
      } else {
        const parts = readInTwoParts(sessions!, spool, {
          first: () => this.#copyOut(copy(split.before), table, options),
          helped: (chunks) => chunks,
          alone: () => this.#copyOut(copy(split.after), table, options),
        })
        yield* wholeLines(parts, table, options)
      }
    } finally {
      this.#busy = false
    }
  }

  /**
   * Runs `COPY … TO STDOUT` inside a savepoint and yields its output in chunks of whole lines,
   * at least LINES_CHUNK_BYTES each but the last (postgres-copy-out.ts), reading the socket only
   * while the consumer pulls. Leaving early cancels the COPY and rolls back to the
   * savepoint, so the snapshot stays usable.
   */
  async *#copyOut(copy: string, table: PgTable, options: ReadOptions): AsyncGenerator<Buffer, void, undefined> {
    const context = { action: 'reading rows', table: table.schema.name }
    options.signal?.throwIfAborted()
    await this.#query('SAVEPOINT mergeback_read', context)
    const reader = this.#client.query(new CopyOut(copy, LINES_CHUNK_BYTES, this.#chunks))
    const finished = readyForQuery(this.#client, reader)
    let completed = false
    let failed = false
    try {
      for (;;) {
        let chunk: Buffer | null
        try {
          chunk = await reader.next()
        } catch (error) {
          throw toDatabaseError(error, context)
        }
        if (chunk === null) break
        yield chunk
      }
      completed = true
      await finished
      await this.#query('RELEASE SAVEPOINT mergeback_read', context)
    } catch (error) {
      failed = true
      throw error
    } finally {
      // When the read failed, that failure is what the caller needs to see, not a second one
      // from cleaning up after it (both come from the same broken statement or connection).
      if (!completed) {
        await this.#abandon(reader, finished).catch((error: unknown) => {
          if (!failed) throw error
        })
      }
    }
  }

  /**
   * Stops a COPY the consumer no longer wants and puts the session back where it was before it:
   * cancel, drain, roll back to the savepoint (the snapshot is the transaction's, so it stays).
   */
  async #abandon(reader: CopyOut, finished: Promise<void>): Promise<void> {
    if (this.#closed) return
    try {
      if (!reader.done) {
        await cancelRunningStatement(this.#client, this.#config)
        while ((await reader.next().catch(() => null)) !== null) {
          // Discard what the server sent before the cancel arrived.
        }
      }
      await finished
      // A cancel that arrives after the COPY ended may still hit this statement (57014); the
      // savepoint survives that, so trying once more is enough.
      await this.#client.query('ROLLBACK TO SAVEPOINT mergeback_read').catch((error: { code?: string }) => {
        if (error.code !== '57014') throw error
        return this.#client.query('ROLLBACK TO SAVEPOINT mergeback_read')
      })
      await this.#client.query('RELEASE SAVEPOINT mergeback_read')
    } catch (error) {
      throw toDatabaseError(error, { action: 'stopping a read' })
    }
  }

  /** Tables are those describe() lists; row counts are exact (count(*)), read in the snapshot. */
  async stats(): Promise<DatabaseStats> {
    this.#assertIdle('read statistics')
    const context = { action: 'reading statistics' }
    const head = await this.#query(
      `SELECT pg_catalog.current_setting('server_version') AS version, pg_catalog.pg_database_size(pg_catalog.current_database())::text AS size`,
      context,
    )
    const tables = await this.#query(
      `SELECT c.oid, c.relname, c.relkind,
              CASE WHEN c.relkind = 'p'
                   THEN (SELECT sum(pg_catalog.pg_total_relation_size(p.relid))::text FROM pg_catalog.pg_partition_tree(c.oid) p)
                   ELSE pg_catalog.pg_total_relation_size(c.oid)::text END AS size
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
      context,
      [this.#schema],
    )
    const result: DatabaseStats['tables'][number][] = []
    for (const row of tables.rows as { relname: string; relkind: 'r' | 'p'; size: string | null }[]) {
      const from = `${row.relkind === 'r' ? 'ONLY ' : ''}${qualify(this.#schema, row.relname)}`
      const count = await this.#query(`SELECT count(*)::text AS n FROM ${from}`, { ...context, table: row.relname })
      result.push({ name: row.relname, rows: Number(count.rows[0].n), sizeBytes: row.size === null ? null : Number(row.size) })
    }
    result.sort((a, b) => compareNames(a.name, b.name))
    const info = head.rows[0] as { version: string; size: string }
    return { engine: 'postgres', database: this.#config.database, version: info.version, sizeBytes: Number(info.size), tables: result }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#split?.dropHelper()
    if (this.#busy) {
      // A read is still open (its consumer never finished or returned): the connection is in
      // COPY mode and cannot take a statement. Dropping it ends the snapshot server-side.
      ;(this.#client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy()
      await this.#client.end().catch(() => {})
      return
    }
    await this.#client.query('COMMIT').catch(() => {})
    await this.#client.end().catch(() => {})
  }

  async #resolve(table: TableSchema): Promise<PgTable> {
    const known = this.#described.get(table.name)
    if (known) return known
    const introspection = await introspect(this.#client, this.#schema, [table.name]).catch((error: unknown) => {
      throw toDatabaseError(error, { action: 'describing the table', table: table.name })
    })
    const found = introspection.tables[0]
    this.#described.set(table.name, found)
    return found
  }

  #assertIdle(what: string): void {
    if (this.#closed) throw new UsageError(`Cannot ${what}: the PostgreSQL source is closed.`)
    if (this.#busy) {
      throw new UsageError(`Cannot ${what} while another table is being read from the same PostgreSQL source: finish or leave that read first.`)
    }
  }

  async #query(text: string, context: { action: string; table?: string }, values?: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.#client.query(text, values)
    } catch (error) {
      throw toDatabaseError(error, context)
    }
  }
}
