/**
 * Writing into a PostgreSQL database: one transaction from open to commit()/rollback(), DDL
 * included (PostgreSQL's DDL is transactional, so a failed restore leaves no half-created table).
 *
 * Session: REPEATABLE READ (a merge compares against one snapshot; a concurrent change to a row
 * it updates fails the merge instead of being overwritten), TimeZone UTC, and
 * `SET CONSTRAINTS ALL DEFERRED` so that deferrable foreign keys are checked in finish(), after
 * all tables are written (cycles and table order then do not matter for them).
 *
 * prepare('restore'):
 *   1. every selected table that exists must have every backup column (else UsageError: data
 *      would be lost); generated target columns are fine (never written);
 *   2. missing tables are created: enum types and domains they need, then CREATE TABLE with
 *      columns, defaults, serial/identity, NOT NULL, primary key, unique and CHECK constraints,
 *      then indexes. Their foreign keys are queued for finish(), after the data;
 *   3. with `drop`, the selected existing tables are emptied, never cascading: TRUNCATE for the
 *      set of selected tables, except that a table referenced by a table *outside* the
 *      selection cannot be truncated: it is emptied with DELETE when no row outside references
 *      it, and otherwise the restore is refused (UsageError naming the referencing table).
 * prepare('merge') creates nothing; a missing table or column is a UsageError.
 *
 * Triggers (both modes): restores and merges write exactly the backup's values (DESIGN.md §4), so
 * the enabled user triggers of the selected existing tables (a `BEFORE UPDATE` that sets
 * `updated_at = now()`, an `AFTER INSERT` that writes an audit row) are switched off with
 * `ALTER TABLE … DISABLE TRIGGER name`, inside the transaction, before anything is written or
 * emptied, and switched back on (`ENABLE` / `ENABLE ALWAYS`, as they were) just before COMMIT;
 * a rollback undoes both. Other sessions never see them off: the ALTER holds its lock until the
 * end. Not `session_replication_role = replica`, although it needs no ALTER: it also silences
 * the foreign-key triggers, so a restore or merge could commit rows that violate foreign keys,
 * and `--dry-run` could no longer find such violations. ALTER needs the table's owner (or a
 * superuser): any other user gets a UsageError naming the triggers, before anything is written.
 * Rules of those tables (`CREATE RULE … DO ALSO …`) are switched off and on the same way
 * (`DISABLE RULE`). The triggers and rules switched off are reported as a warning of prepare().
 *
 * writeRows (skip-existing semantics, DESIGN.md §5):
 *   - target empty (created or emptied by this restore, or found empty): COPY straight into it —
 *     nothing can conflict, and this is the fast path of a restore into a new database;
 *   - otherwise: COPY into a temporary staging table of the target's column types (one per
 *     table, reused and truncated across calls), then one INSERT … SELECT that skips what exists:
 *       key (primary key, or a unique constraint on NOT NULL columns): ON CONFLICT DO NOTHING
 *         (a DEFERRABLE key cannot be an ON CONFLICT arbiter, and a table with INSERT or UPDATE
 *         rules takes no ON CONFLICT at all: NOT EXISTS anti-join instead);
 *       no key: `stage EXCEPT ALL target`, the multiset difference, which is exactly "skip a
 *         backup row when an identical row is already there, counting duplicates, NULL = NULL".
 *         Types without equality (json, xml, point …) are compared by their text. For a small
 *         batch against a large table, the table side is first narrowed to rows sharing one
 *         column's value with a staged row.
 *   skipped = rows staged − rows inserted.
 *
 * readByKeys / updateRows are one statement each, with the keys (and values) passed as `text[]`
 * parameters unnested into rows and cast to the column types.
 *
 * finish(): queued foreign keys are added (and so validated), sequences of serial and identity
 * columns are moved past the highest value now in their column (never backwards), and
 * `SET CONSTRAINTS ALL IMMEDIATE` makes any deferred violation surface here, as DatabaseError.
 *
 * Limits (docs/adapters.md): a NOT DEFERRABLE foreign key cycle between *existing* tables cannot
 * be satisfied in any insert order; a backup that holds the same key twice fails on an empty
 * target (direct COPY) instead of skipping the second row.
 *
 * @module
 */
import type pg from 'pg'
import type {
  ColumnSchema,
  ConnectionConfig,
  DatabaseSchema,
  Destination,
  DestinationOptions,
  Engine,
  ForeignKeySchema,
  PrepareOptions,
  PrepareResult,
  Row,
  RowDigest,
  RowDigests,
  TableSchema,
  ValueKind,
  WireValue,
  WriteResult,
} from '../adapter.js'
import { ConnectionError, DatabaseError, FormatError, InternalError, MergebackError, UsageError } from '../../errors.js'
import { copyFromStdin, createMissingEnums, openSession, toDatabaseError, type ErrorContext } from './postgres-connection.js'
import { compareNames, introspect, toDatabaseSchema, type PgColumn, type PgDomainDefinition, type PgTable, type PgTypeDefinition } from './postgres-introspector.js'
import { POSTGRES_CAPABILITIES, RAW_TEXT_TYPES, RowCodec, fromClause, keyColumnInOrder, recordLineDigest, recordLineSelect, splitTable } from './postgres-source.js'
import { SplitSessions, readInTwoParts, splitMinBytes } from './postgres-split-read.js'
import { createTableDdl, enumTypeName, escapeCopyText, foreignKeySql, qualify, quoteIdent, quoteLiteral } from './postgres-sql.js'
import { wireToPgText } from './postgres-values.js'
import { copyLinePlan, lineToCopy, type CopyLinePlan } from './postgres-copy-lines.js'
import { TextOutput } from '../json-line-text.js'
import type { ChunkPool } from '../../engine/buffer-reclaim.js'
import type { LineConverter } from '../../format/reader.js'
import { packRowDigests } from '../adapter.js'
import os from 'node:os'

/** readRowDigests fetches this many rows at a time (about 60 bytes each). */
const DIGESTS_PER_FETCH = 10_000

/** Rows per page of a packed digest read (packedDigestSelect), one page a fetch. */
const DIGESTS_PER_PAGE = 10_000

/** readByKeys sends at most this many keys per statement. */
const KEYS_PER_STATEMENT = 50_000

/** A column being written: where the value comes from (backup kind) and goes to (target column). */
interface WriteColumn {
  readonly name: string
  readonly target: PgColumn
  readonly sourceKind: ValueKind
  readonly sourceElementKind?: ValueKind
}

type State = 'open' | 'committed' | 'rolled-back' | 'closed'

/**
 * A write session. Created by `postgresAdapter.openDestination()`. Call order and error
 * semantics are those of adapter.ts `Destination`.
 */
export class PostgresDestination implements Destination {
  readonly engine = 'postgres' as const
  readonly capabilities = POSTGRES_CAPABILITIES
  readonly #client: pg.Client
  readonly #config: ConnectionConfig
  readonly #schema: string
  #state: State = 'open'
  #tables: Map<string, PgTable> | undefined
  /** Tables known to be empty in this transaction (created or emptied): COPY goes straight in. */
  readonly #emptyTables = new Set<string>()
  /** Tables known to hold rows in this transaction (nothing here deletes rows after prepare()). */
  readonly #filledTables = new Set<string>()
  /** Foreign keys of tables created by prepare(), added in finish(). */
  #pendingForeignKeys: { table: string; foreignKey: ForeignKeySchema }[] = []
  /** Tables named by prepare(): finish() moves their sequences. */
  #preparedTables: string[] = []
  /** Keys and indexes of tables created by prepare(), built once their rows are in (#buildKeys). */
  readonly #afterData = new Map<string, readonly string[]>()
  /** Cursors opened by readRowDigests, for unique names. */
  #cursors = 0
  /** Settles when the last statement sent by #run has finished (see #run). */
  #lastQuery: Promise<void> = Promise.resolve()
  /** Staging tables by target table and column list (see #writeThroughStage). */
  readonly #stages = new Map<string, string>()
  /** User triggers switched off by prepare(), switched back on before COMMIT (see the module header). */
  #disabledTriggers: { table: string; kind: 'TRIGGER' | 'RULE'; name: string; enabled: string }[] = []
  /** A read-only session (analyze): see Adapter.openDestination. */
  readonly #readOnly: boolean
  /** Read-only with `sessions` above 1: the exported snapshot and its helper, for readRowDigests of a big table. */
  readonly #split: SplitSessions | undefined

  private constructor(client: pg.Client, config: ConnectionConfig, readOnly: boolean, split: SplitSessions | undefined) {
    this.#client = client
    this.#config = config
    this.#readOnly = readOnly
    this.#split = split
    this.#schema = config.schema ?? 'public'
  }

  /** The tables whose digests were read on two sessions so far (postgres-split-read.ts), in order. */
  get splitTables(): readonly string[] {
    return this.#split?.tables ?? []
  }

  /** Connects and opens the transaction. Throws ConnectionError when the database cannot be reached. */
  static async open(config: ConnectionConfig, options: DestinationOptions = {}): Promise<PostgresDestination> {
    const client = await openSession(config)
    const readOnly = Boolean(options.readOnly)
    let snapshot: string | undefined
    try {
      // Read-only (analyze): one snapshot, no row locks, SELECT permission only.
      const begin = readOnly ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN ISOLATION LEVEL REPEATABLE READ; SET CONSTRAINTS ALL DEFERRED'
      await client.query(begin)
      // Only a read-only session reads on a helper: a merge's digests must see its own writes' session.
      if (readOnly && (options.sessions ?? 1) > 1) snapshot = await SplitSessions.exportSnapshot(client, begin)
    } catch (error) {
      await client.end().catch(() => {})
      throw toDatabaseError(error, { action: 'starting the transaction' })
    }
    const split = snapshot === undefined ? undefined : new SplitSessions(config, snapshot, { minBytes: options.splitMinBytes ?? splitMinBytes(), spoolDir: options.spoolDir ?? os.tmpdir() })
    return new PostgresDestination(client, config, readOnly, split)
  }

  async describe(): Promise<DatabaseSchema> {
    this.#assertOpen('describe')
    const introspection = await this.#introspect()
    return toDatabaseSchema(introspection, this.#config.database, this.#schema)
  }

  async prepare(backup: DatabaseSchema, options: PrepareOptions): Promise<PrepareResult> {
    this.#assertOpen('prepare')
    if (options.mode === 'merge' && options.drop) throw new UsageError('A merge never empties tables: drop is for restore only.')
    const target = await this.#targetTables()
    const missing = backup.tables.filter((t) => !target.has(t.name))
    const existing = backup.tables.filter((t) => target.has(t.name))
    const problems: string[] = []
    if (options.mode === 'merge' && missing.length > 0) {
      problems.push(
        `${missing.length === 1 ? 'Table' : 'Tables'} ${missing.map((t) => `"${t.name}"`).join(', ')} ` +
          `${missing.length === 1 ? 'does' : 'do'} not exist in ${this.#where()}: a merge creates nothing (restore the backup instead, or exclude ${missing.length === 1 ? 'it' : 'them'})`,
      )
    }
    for (const table of existing) {
      const targetColumns = new Set(target.get(table.name)!.columns.map((c) => c.schema.name))
      const lacking = table.columns.filter((c) => !targetColumns.has(c.name)).map((c) => `"${c.name}"`)
      if (lacking.length > 0) {
        problems.push(`Table "${table.name}" in ${this.#where()} has no column ${lacking.join(', ')}, which the backup has: add the column(s) first, or exclude the table`)
      }
    }
    if (problems.length > 0) throw new UsageError(`${problems.join('. ')}.`, { code: 'SCHEMA_MISMATCH', details: { problems } })

    this.#preparedTables = backup.tables.map((t) => t.name)
    const warnings: string[] = await this.#disableUserTriggers(existing.map((t) => t.name))
    if (options.mode === 'merge') return { created: [], emptied: [], warnings }

    const created: string[] = []
    if (missing.length > 0) {
      await this.#createTables(backup, missing, target, warnings)
      created.push(...missing.map((t) => t.name))
    }
    const emptied = options.drop ? await this.#emptyExisting(existing.map((t) => target.get(t.name)!)) : []
    this.#tables = undefined
    for (const name of [...created, ...emptied]) {
      this.#emptyTables.add(name)
      this.#filledTables.delete(name)
    }
    return { created, emptied, warnings }
  }

  async writeRows(table: TableSchema, batches: AsyncIterable<Row[]>): Promise<WriteResult> {
    this.#assertOpen('write rows')
    const target = await this.#table(table.name)
    const context: ErrorContext = { action: 'writing rows', table: table.name }
    const iterator = batches[Symbol.asyncIterator]()
    let first: IteratorResult<Row[]>
    try {
      first = await iterator.next()
      // A typeless file may list no columns: its first row says which there are.
      const declared: readonly ColumnSchema[] =
        table.columns.length > 0 || first.done
          ? table.columns
          : Object.keys(first.value[0] ?? {}).map((name) => ({ name, type: '', kind: 'unknown' as const, nullable: true }))
      const columns = this.#writeColumns(target, declared)
      if (first.done) return { inserted: 0, skipped: 0 }
      const direct =
        this.#emptyTables.has(table.name) || (!this.#filledTables.has(table.name) && !(await this.#hasRows(target, context)))
      const lines = encodeBatches(first, iterator, columns, table.name)
      this.#emptyTables.delete(table.name)
      this.#filledTables.add(table.name)
      if (direct) {
        const inserted = await this.#copyInto(qualify(this.#schema, table.name), columns, lines, context)
        await this.#buildKeys(table.name)
        return { inserted, skipped: 0 }
      }
      return await this.#writeThroughStage(target, columns, lines, context)
    } catch (error) {
      await iterator.return?.().catch(() => {})
      throw error
    }
  }

  async acceptsRecordLines(table: TableSchema): Promise<boolean> {
    this.#assertOpen('write rows')
    if (table.columns.length === 0) return false
    return this.#copyLinePlan(table, await this.#table(table.name)) !== undefined
  }

  async writeRecordLines(table: TableSchema, chunks: AsyncIterable<Buffer>): Promise<WriteResult> {
    this.#assertOpen('write rows')
    const target = await this.#table(table.name)
    const context: ErrorContext = { action: 'writing rows', table: table.name }
    const columns = this.#writeColumns(target, table.columns)
    const plan = this.#copyLinePlan(table, target)
    if (plan === undefined) throw new InternalError(`writeRecordLines: "${table.name}" cannot be written from record lines`)
    const direct = this.#emptyTables.has(table.name) || (!this.#filledTables.has(table.name) && !(await this.#hasRows(target, context)))
    this.#emptyTables.delete(table.name)
    this.#filledTables.add(table.name)
    const lines = copyLines(chunks, plan, columns, table.name)
    if (direct) {
      const inserted = await this.#copyInto(qualify(this.#schema, table.name), columns, lines, context)
      await this.#buildKeys(table.name)
      return { inserted, skipped: 0 }
    }
    return await this.#insertThroughStage(target, columns, (stage) => this.#copyInto(stage, columns, lines, context), context)
  }

  /**
   * How this table's record lines become COPY text, or undefined when they cannot (a column of
   * another kind in the backup than in the table, or of a kind without a line rewrite).
   * Generated columns are in the lines and passed over.
   */
  #copyLinePlan(table: TableSchema, target: PgTable): CopyLinePlan | undefined {
    const written = new Map(this.#writeColumns(target, table.columns).map((c) => [c.name, c]))
    if ([...written.values()].some((c) => c.sourceKind !== c.target.schema.kind)) return undefined
    return copyLinePlan(table.columns.map((c) => ({ name: c.name, kind: written.get(c.name)?.target.schema.kind ?? 'skip' })))
  }

  async readRowDigests(tableName: string, columnNames: readonly string[]): Promise<AsyncIterable<RowDigests> | undefined> {
    this.#assertOpen('read rows')
    const table = await this.#table(tableName)
    const key = table.schema.primaryKey
    if (key.length === 0 || columnNames.some((name) => !table.columns.some((c) => c.schema.name === name))) return undefined
    if (key.some((name) => !columnNames.includes(name))) return undefined
    const select = (where?: string): string | undefined => {
      const inner = recordLineSelect(this.#schema, table, columnNames, { ordered: true, where })
      // The key is JSON text of the key columns' wire values (json_build_array: any spacing).
      return inner && `SELECT pg_catalog.json_build_array(${key.map((c) => `r.${quoteIdent(c)}`).join(', ')})::text, ${recordLineDigest('r')} FROM (${inner}) AS r`
    }
    if (select() === undefined) return undefined
    // A table keyed by one column is read a page at a time, each page one row of the cursor.
    const cursor = (where?: string) => {
      const packed = packedDigestSelect(this.#schema, table, columnNames, where)
      return packed === undefined ? this.#digestCursor(select(where)!, tableName, 'rows') : this.#digestCursor(packed, tableName, 'pages')
    }
    // Analyze (read-only) reads a big table's second half on a helper session of its snapshot
    // (postgres-split-read.ts), spooled meanwhile: the server hashes on two backends.
    const sessions = this.#readOnly ? this.#split : undefined
    if (sessions !== undefined) {
      await this.#lastQuery
      const split = await splitTable(sessions, this.#client, this.#schema, table)
      const copy = split && `COPY (${select(split.after)!}) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')`
      const spool = split && (await split.helper.spool(copy!, tableName, sessions.spoolDir).catch(() => undefined))
      if (split !== undefined && spool !== undefined) {
        const parts = {
          first: () => later(cursor(split.before)),
          helped: (chunks: AsyncIterable<Buffer>) => digestBatches(chunks, tableName),
          alone: () => later(cursor(split.after)),
        }
        return { [Symbol.asyncIterator]: () => readInTwoParts(sessions, spool, parts) }
      }
    }
    return cursor()
  }

  /**
   * `select`'s digests in batches, through a cursor declared now: `select` gives rows (key text,
   * digest), DIGESTS_PER_FETCH of them a fetch, or pages (count, digests, keys: packedDigestSelect), one a fetch.
   */
  async #digestCursor(select: string, tableName: string, shape: 'rows' | 'pages'): Promise<AsyncIterable<RowDigests>> {
    const cursor = `mergeback_digests_${++this.#cursors}`
    const context: ErrorContext = { action: 'reading rows', table: tableName }
    // A cursor, not COPY: the merge reads and writes between two fetches on this same
    // connection. It sees the table as it is now, not the merge's own later writes.
    await this.#run({ text: `DECLARE ${cursor} NO SCROLL CURSOR FOR ${select}` }, context)
    const perFetch = shape === 'rows' ? DIGESTS_PER_FETCH : 1
    // undefined: the cursor is done.
    const fetch = (): Promise<RowDigests | undefined> =>
      this.#run({ text: `FETCH FORWARD ${perFetch} FROM ${cursor}`, rowMode: 'array', types: RAW_TEXT_TYPES }, context).then((result) => {
        if (shape === 'rows') return result.rows.length === 0 ? undefined : packRowDigests(result.rows as RowDigest[])
        const page = result.rows[0] as [string, string | null, string | null] | undefined
        return page === undefined ? undefined : { count: Number(page[0]), digests: page[1] ?? '', keys: page[2] ?? '' }
      })
    const run = this.#run.bind(this)
    return {
      async *[Symbol.asyncIterator]() {
        // One fetch ahead: the server hashes the next rows while the caller compares these.
        let next: Promise<RowDigests | undefined> | undefined = fetch()
        try {
          for (;;) {
            const digests = await next
            next = undefined
            if (digests === undefined) return
            // A short batch is the last: a full one may be followed by more (or by nothing).
            if (digests.count === (shape === 'rows' ? DIGESTS_PER_FETCH : DIGESTS_PER_PAGE)) {
              next = fetch()
              next.catch(() => undefined)
            }
            if (digests.count > 0) yield digests
            if (next === undefined) return
          }
        } finally {
          await next?.catch(() => undefined)
          await run({ text: `CLOSE ${cursor}` }, context).catch(() => undefined)
        }
      },
    }
  }

  async readByKeys(tableName: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<Row[]> {
    this.#assertOpen('read rows')
    if (keys.length === 0) return []
    const table = await this.#table(tableName)
    const keyInfo = this.#keyColumns(table, keyColumns)
    const codec = new RowCodec(table.columns)
    const context: ErrorContext = { action: 'reading rows by key', table: tableName }
    const rows: Row[] = []
    for (let offset = 0; offset < keys.length; offset += KEYS_PER_STATEMENT) {
      const slice = keys.slice(offset, offset + KEYS_PER_STATEMENT)
      const params = keyInfo.map((column) => slice.map((key) => this.#paramText(key[column.schema.name], column, tableName)))
      const match = keyMatch(keyInfo, 'k')
      const sql =
        `SELECT ${codec.selectList} FROM ${fromClause(this.#schema, table)} ` +
        `WHERE (${match.left}) IN (SELECT ${match.right} FROM unnest(${params.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS k(${keyInfo.map((_, i) => `c${i}`).join(', ')}))`
      const result = await this.#run({ text: sql, values: params, rowMode: 'array', types: RAW_TEXT_TYPES }, context)
      for (const values of result.rows as (string | null)[][]) rows.push(codec.decodeValues(values))
    }
    return rows
  }

  async updateRows(tableName: string, keyColumns: readonly string[], rows: readonly Row[]): Promise<number> {
    this.#assertOpen('update rows')
    if (rows.length === 0) return 0
    const table = await this.#table(tableName)
    const keyInfo = this.#keyColumns(table, keyColumns)
    const keySet = new Set(keyColumns)
    const context: ErrorContext = { action: 'updating rows', table: tableName }
    // Rows may carry different columns (a conflict resolution sets only some): one statement per shape.
    const groups = new Map<string, Row[]>()
    for (const row of rows) {
      for (const key of keyColumns) {
        if (row[key] === undefined) throw new InternalError(`updateRows("${tableName}"): a row lacks key column "${key}".`)
      }
      const shape = Object.keys(row)
        .filter((name) => !keySet.has(name))
        .sort(compareNames)
        .join('\u0000')
      const group = groups.get(shape)
      if (group) group.push(row)
      else groups.set(shape, [row])
    }
    let changed = 0
    for (const group of groups.values()) {
      const setColumns = Object.keys(group[0])
        .filter((name) => !keySet.has(name))
        .map((name) => {
          const column = table.columns.find((c) => c.schema.name === name)
          if (!column) throw new UsageError(`Table "${tableName}" in ${this.#where()} has no column "${name}".`)
          return column
        })
        // Generated columns are computed, and identity ALWAYS columns can only be set to DEFAULT.
        .filter((column) => column.schema.generated === undefined && column.schema.identity !== 'always')
      if (setColumns.length === 0) continue
      const all = [...keyInfo, ...setColumns]
      const params = all.map((column) => group.map((row) => this.#paramText(row[column.schema.name], column, tableName)))
      const assignments = setColumns
        .map((column, i) => `${quoteIdent(column.schema.name)} = v.c${keyInfo.length + i}::${column.schema.type}`)
        .join(', ')
      const match = keyInfo
        .map((column, i) =>
          column.comparable
            ? `t.${quoteIdent(column.schema.name)} = v.c${i}::${column.schema.type}`
            : `t.${quoteIdent(column.schema.name)}::text = v.c${i}`,
        )
        .join(' AND ')
      const sql =
        `UPDATE ${fromClause(this.#schema, table)} SET ${assignments} ` +
        `FROM unnest(${params.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS v(${all.map((_, i) => `c${i}`).join(', ')}) WHERE ${match}`
      const result = await this.#run({ text: sql, values: params }, context)
      changed += result.rowCount ?? 0
    }
    return changed
  }

  /** Three-way merge with --apply-deletions: deletes the records with these keys; returns how many were deleted. */
  async deleteRows(tableName: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<number> {
    this.#assertOpen('delete rows')
    if (keys.length === 0) return 0
    const table = await this.#table(tableName)
    const keyInfo = this.#keyColumns(table, keyColumns)
    const context: ErrorContext = { action: 'deleting rows', table: tableName }
    let deleted = 0
    for (let offset = 0; offset < keys.length; offset += KEYS_PER_STATEMENT) {
      const slice = keys.slice(offset, offset + KEYS_PER_STATEMENT)
      const params = keyInfo.map((column) => slice.map((key) => this.#paramText(key[column.schema.name], column, tableName)))
      const match = keyMatch(keyInfo, 'k')
      const sql =
        `DELETE FROM ${fromClause(this.#schema, table)} ` +
        `WHERE (${match.left}) IN (SELECT ${match.right} FROM unnest(${params.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS k(${keyInfo.map((_, i) => `c${i}`).join(', ')}))`
      const result = await this.#run({ text: sql, values: params }, context)
      deleted += result.rowCount ?? 0
    }
    return deleted
  }

  async countRows(tableName: string): Promise<number> {
    this.#assertOpen('count rows')
    const table = await this.#table(tableName)
    const result = await this.#run({ text: `SELECT count(*)::text AS n FROM ${fromClause(this.#schema, table)}` }, { action: 'counting rows', table: tableName })
    return Number((result.rows[0] as { n: string }).n)
  }

  async finish(): Promise<void> {
    this.#assertOpen('finish')
    for (const name of [...this.#afterData.keys()]) await this.#buildKeys(name)
    for (const { table, foreignKey } of this.#pendingForeignKeys) {
      await this.#run(
        { text: foreignKeySql(this.#schema, table, foreignKey), queryMode: 'extended' },
        { action: `adding foreign key "${foreignKey.name}"`, table },
      )
    }
    this.#pendingForeignKeys = []
    await this.#moveSequences()
    await this.#run({ text: 'SET CONSTRAINTS ALL IMMEDIATE' }, { action: 'checking deferred constraints' })
  }

  async commit(): Promise<void> {
    this.#assertOpen('commit')
    await this.#enableUserTriggers()
    let result: pg.QueryResult
    try {
      result = await this.#run({ text: 'COMMIT' }, { action: 'committing' })
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error
      this.#state = 'rolled-back'
      // The COMMIT may have reached the server before the connection broke.
      throw new ConnectionError(`${error.message}. Whether the transaction was committed is unknown: check the database before retrying.`, {
        cause: error,
        retryable: false,
      })
    }
    // COMMIT of a transaction that already failed answers ROLLBACK instead of raising an error.
    if (result.command === 'ROLLBACK') {
      this.#state = 'rolled-back'
      throw new DatabaseError('The transaction had already failed, so PostgreSQL rolled it back instead of committing: nothing was changed.', {
        engineCode: '25P02',
      })
    }
    this.#state = 'committed'
  }

  async rollback(): Promise<void> {
    if (this.#state !== 'open') return
    this.#state = 'rolled-back'
    await this.#split?.dropHelper()
    // If the connection is gone, the server has already rolled back.
    await this.#client.query('ROLLBACK').catch(() => {})
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return
    await this.rollback()
    this.#state = 'closed'
    await this.#client.end().catch(() => {})
  }

  // -- triggers --------------------------------------------------------------------------------

  /** Switches off the enabled user triggers of these tables for this transaction; returns what it reports. */
  async #disableUserTriggers(tables: readonly string[]): Promise<string[]> {
    if (tables.length === 0) return []
    const context: ErrorContext = { action: 'reading the triggers' }
    const found = await this.#run(
      {
        text:
          `SELECT c.relname AS "table", 'TRIGGER' AS kind, t.tgname AS name, t.tgenabled AS enabled
             FROM pg_catalog.pg_trigger t
             JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')
           UNION ALL
           SELECT c.relname, 'RULE', r.rulename, r.ev_enabled
             FROM pg_catalog.pg_rewrite r
             JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND r.rulename <> '_RETURN' AND r.ev_enabled IN ('O', 'A')
            ORDER BY 1, 2 DESC, 3`,
        values: [this.#schema, tables],
      },
      context,
    )
    const triggers = found.rows as { table: string; kind: 'TRIGGER' | 'RULE'; name: string; enabled: string }[]
    if (triggers.length === 0) return []
    const listed = triggers.map((t) => `${t.kind === 'RULE' ? 'rule ' : ''}"${t.table}".${quoteIdent(t.name)}`).join(', ')
    const refusal = (): UsageError =>
      new UsageError(
        `The user triggers ${listed} in ${this.#where()} would change the values written: mergeback switches them off for its transaction, ` +
          `which needs the owner of each table (or a superuser). Connect as the owner, or disable the triggers yourself (ALTER TABLE … DISABLE TRIGGER …) or exclude the tables. Nothing was changed.`,
        { code: 'TRIGGERS', details: { triggers: triggers.map((t) => ({ table: t.table, trigger: t.name })) } },
      )
    if (this.#readOnly) {
      // analyze: say what the merge would do, and refuse where it would refuse, without the ALTER.
      const owner = await this.#run(
        {
          text:
            `SELECT bool_and(pg_catalog.pg_has_role(c.relowner, 'USAGE')) AS ok FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
          values: [this.#schema, [...new Set(triggers.map((t) => t.table))]],
        },
        context,
      )
      if ((owner.rows[0] as { ok: boolean | null }).ok !== true) throw refusal()
      return [`User triggers will not run during the merge (switched off in its transaction, back on at commit): ${listed}.`]
    }
    for (const trigger of triggers) {
      try {
        await this.#run(
          { text: `ALTER TABLE ${qualify(this.#schema, trigger.table)} DISABLE ${trigger.kind} ${quoteIdent(trigger.name)}` },
          { action: 'switching off a trigger', table: trigger.table },
        )
      } catch (error) {
        if (error instanceof DatabaseError && error.engineCode === '42501') throw refusal()
        throw error
      }
      this.#disabledTriggers.push(trigger)
    }
    return [`User triggers did not run during this write (switched off in its transaction, back on at commit): ${listed}.`]
  }

  /** Switches the triggers #disableUserTriggers switched off back on, as they were. */
  async #enableUserTriggers(): Promise<void> {
    for (const trigger of this.#disabledTriggers) {
      await this.#run(
        { text: `ALTER TABLE ${qualify(this.#schema, trigger.table)} ENABLE ${trigger.enabled === 'A' ? 'ALWAYS ' : ''}${trigger.kind} ${quoteIdent(trigger.name)}` },
        { action: 'switching a trigger back on', table: trigger.table },
      )
    }
    this.#disabledTriggers = []
  }

  // -- prepare ---------------------------------------------------------------------------------

  async #createTables(backup: DatabaseSchema, missing: readonly TableSchema[], target: Map<string, PgTable>, warnings: string[]): Promise<void> {
    const context: ErrorContext = { action: 'creating tables' }
    const schemaExists = await this.#run({ text: 'SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', values: [this.#schema] }, context)
    if (schemaExists.rowCount === 0) await this.#run({ text: `CREATE SCHEMA ${quoteIdent(this.#schema)}` }, context)
    // Composite and range types (with the enums and domains inside them) first: a column's own
    // enum or domain may be one of them, and a domain may be over a composite.
    if (backup.engine === 'postgres') await this.#createExtensions(missing, warnings)
    if (backup.engine === 'postgres') await this.#createTypes(missing)
    await this.#createEnums(backup.engine, missing, warnings)
    if (backup.engine === 'postgres') await this.#createDomains(missing)

    const taken = await this.#run(
      {
        text: `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
        values: [this.#schema],
      },
      context,
    )
    const takenNames = new Set((taken.rows as { relname: string }[]).map((r) => r.relname))
    for (const table of missing) {
      const ddl = createTableDdl(table, backup.engine, this.#schema, takenNames, { keysAfterData: true })
      warnings.push(...ddl.warnings)
      if (ddl.afterData.length > 0) this.#afterData.set(table.name, ddl.afterData)
      for (const statement of ddl.statements) {
        // Extended protocol: DDL text from a backup file can hold one statement only.
        await this.#run({ text: statement, queryMode: 'extended' }, { action: 'creating the table', table: table.name })
      }
    }
    const available = new Set([...target.keys(), ...missing.map((t) => t.name)])
    for (const table of missing) {
      for (const foreignKey of table.foreignKeys) {
        if (available.has(foreignKey.referencedTable)) {
          this.#pendingForeignKeys.push({ table: table.name, foreignKey })
        } else {
          warnings.push(
            `Foreign key "${foreignKey.name}" of "${table.name}" is not created: table "${foreignKey.referencedTable}" is neither in ${this.#where()} nor in the backup.`,
          )
        }
      }
    }
  }

  async #createEnums(engine: Engine, tables: readonly TableSchema[], warnings: string[]): Promise<void> {
    const wanted = new Map<string, readonly string[]>()
    for (const table of tables) {
      for (const column of table.columns) {
        const isEnum = column.kind === 'enum' || (column.kind === 'array' && column.elementKind === 'enum')
        if (!isEnum || !column.enumValues) continue
        const name = engine === 'postgres' ? (column.enumName ?? column.type.replace(/\[\]$/, '')) : enumTypeName(table.name, column)
        if (!wanted.has(name)) wanted.set(name, column.enumValues)
      }
    }
    await createMissingEnums((query, context) => this.#run(query, context), wanted, warnings)
  }

  /**
   * The extensions whose types the columns use (options.extensions: citext, hstore, …), unless
   * installed. CREATE EXTENSION needs the right to (a superuser, or a trusted extension and
   * CREATE on the database); when refused, the restore fails naming the extension to install.
   */
  async #createExtensions(tables: readonly TableSchema[], warnings: string[]): Promise<void> {
    const wanted = new Set<string>()
    for (const table of tables) for (const name of (table.options?.extensions as string[] | undefined) ?? []) wanted.add(name)
    for (const name of [...wanted].sort()) {
      const context: ErrorContext = { action: `installing extension ${name} (its types are used by the backup; install it first if this user may not)` }
      const found = await this.#run({ text: 'SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1', values: [name] }, context)
      if (found.rowCount !== 0) continue
      await this.#run({ text: `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(name)}`, queryMode: 'extended' }, context)
      warnings.push(`Extension ${name} was installed (CREATE EXTENSION), as the backup's columns use its types.`)
    }
  }

  /** The user types of options.types (PgTypeDefinition), in order, each unless it exists. */
  async #createTypes(tables: readonly TableSchema[]): Promise<void> {
    const wanted = new Map<string, PgTypeDefinition>()
    for (const table of tables) {
      for (const type of (table.options?.types as PgTypeDefinition[] | undefined) ?? []) if (!wanted.has(type.name)) wanted.set(type.name, type)
    }
    for (const type of wanted.values()) {
      const context: ErrorContext = { action: `creating ${type.kind} type ${type.name}` }
      const found = await this.#run({ text: 'SELECT pg_catalog.to_regtype($1)::oid AS oid', values: [type.name] }, context)
      if ((found.rows[0] as { oid: number | null }).oid !== null) continue
      switch (type.kind) {
        case 'domain':
          await this.#createDomain(type)
          break
        case 'enum':
          await this.#run({ text: `CREATE TYPE ${type.name} AS ENUM (${type.labels.map(quoteLiteral).join(', ')})`, queryMode: 'extended' }, context)
          break
        case 'composite':
          await this.#run({ text: `CREATE TYPE ${type.name} AS (${type.attributes.map((a) => `${quoteIdent(a.name)} ${a.type}`).join(', ')})`, queryMode: 'extended' }, context)
          break
        case 'range': {
          const parts = [`SUBTYPE = ${type.subtype}`]
          if (type.subtypeOpclass) parts.push(`SUBTYPE_OPCLASS = ${type.subtypeOpclass}`)
          if (type.collation) parts.push(`COLLATION = ${type.collation}`)
          await this.#run({ text: `CREATE TYPE ${type.name} AS RANGE (${parts.join(', ')})`, queryMode: 'extended' }, context)
          break
        }
      }
    }
  }

  async #createDomains(tables: readonly TableSchema[]): Promise<void> {
    const wanted = new Map<string, PgDomainDefinition>()
    for (const table of tables) {
      for (const domain of (table.options?.domains as PgDomainDefinition[] | undefined) ?? []) wanted.set(domain.name, domain)
    }
    for (const domain of wanted.values()) await this.#createDomain(domain)
  }

  async #createDomain(domain: PgDomainDefinition): Promise<void> {
    const context: ErrorContext = { action: `creating domain ${domain.name}` }
    const found = await this.#run({ text: 'SELECT pg_catalog.to_regtype($1)::oid AS oid', values: [domain.name] }, context)
    if ((found.rows[0] as { oid: number | null }).oid !== null) return
    const parts = [`CREATE DOMAIN ${domain.name} AS ${domain.baseType}`]
    if (domain.default !== null) parts.push(`DEFAULT ${domain.default}`)
    if (domain.notNull) parts.push('NOT NULL')
    for (const constraint of domain.constraints) {
      if (constraint.definition !== 'NOT NULL') parts.push(`CONSTRAINT ${quoteIdent(constraint.name)} ${constraint.definition}`)
    }
    await this.#run({ text: parts.join(' '), queryMode: 'extended' }, context)
  }

  /**
   * Empties the selected tables without touching any other (the algorithm is in the module
   * header). Returns their names.
   */
  async #emptyExisting(tables: readonly PgTable[]): Promise<string[]> {
    if (tables.length === 0) return []
    const context: ErrorContext = { action: 'emptying tables' }
    const selected = new Map(tables.map((t) => [t.oid, t]))
    const references = (
      await this.#run(
        {
          // A partition's foreign key belongs to its partitioned table: judge it by the root.
          text: `SELECT con.conname, COALESCE(pg_catalog.pg_partition_root(con.conrelid)::oid, con.conrelid) AS conrelid,
                        con.confrelid, src.relname AS src_table, srcn.nspname AS src_schema,
                        src.relkind AS src_relkind,
                        ARRAY(SELECT a.attname::text FROM unnest(con.conkey) AS k(n)
                                JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n) AS columns
                   FROM pg_catalog.pg_constraint con
                   JOIN pg_catalog.pg_class src ON src.oid = con.conrelid
                   JOIN pg_catalog.pg_namespace srcn ON srcn.oid = src.relnamespace
                  WHERE con.contype = 'f' AND con.confrelid = ANY($1::oid[])`,
          values: [[...selected.keys()]],
        },
        context,
      )
    ).rows as { conname: string; conrelid: number; confrelid: number; src_table: string; src_schema: string; src_relkind: string; columns: string[] }[]

    const mustDelete = new Set<number>()
    const blockers: string[] = []
    for (const ref of references) {
      if (selected.has(ref.conrelid)) continue
      // Every row of the referenced table goes, so any outside row whose key columns are all
      // non-null (MATCH SIMPLE) points at one of them.
      const only = ref.src_relkind === 'r' ? 'ONLY ' : ''
      const check = await this.#run(
        {
          text: `SELECT EXISTS (SELECT 1 FROM ${only}${qualify(ref.src_schema, ref.src_table)} WHERE ${ref.columns.map((c) => `${quoteIdent(c)} IS NOT NULL`).join(' AND ')}) AS used`,
        },
        context,
      )
      if ((check.rows[0] as { used: boolean }).used) {
        blockers.push(`"${ref.src_schema}"."${ref.src_table}" references "${selected.get(ref.confrelid)!.schema.name}" (foreign key "${ref.conname}")`)
      }
      mustDelete.add(ref.confrelid)
    }
    if (blockers.length > 0) {
      throw new UsageError(
        `Cannot empty the selected tables without touching others: ${blockers.join('; ')}, and those rows would be deleted or changed. ` +
          `Select the referencing table(s) too, or restore without drop.`,
        { code: 'DROP_WOULD_CASCADE', details: { blockers } },
      )
    }
    // TRUNCATE needs every table referencing a truncated one in the same statement: a table
    // referenced from a table that is DELETEd must be DELETEd too.
    let grew = true
    while (grew) {
      grew = false
      for (const ref of references) {
        if (mustDelete.has(ref.conrelid) && selected.has(ref.confrelid) && !mustDelete.has(ref.confrelid)) {
          mustDelete.add(ref.confrelid)
          grew = true
        }
      }
    }
    const target = (table: PgTable): string => `${table.relkind === 'r' ? 'ONLY ' : ''}${qualify(this.#schema, table.schema.name)}`
    const truncate = tables.filter((t) => !mustDelete.has(t.oid))
    if (truncate.length > 0) await this.#run({ text: `TRUNCATE ${truncate.map(target).join(', ')}` }, context)
    // Referencing tables first, so that non-deferrable keys between them are never violated.
    const remaining = tables.filter((t) => mustDelete.has(t.oid))
    while (remaining.length > 0) {
      const index = remaining.findIndex(
        (table) => !references.some((ref) => ref.confrelid === table.oid && ref.conrelid !== table.oid && remaining.some((r) => r.oid === ref.conrelid)),
      )
      const [next] = remaining.splice(index === -1 ? 0 : index, 1)
      await this.#run({ text: `DELETE FROM ${target(next)}` }, { action: 'emptying the table', table: next.schema.name })
    }
    return tables.map((t) => t.schema.name)
  }

  // -- writeRows -------------------------------------------------------------------------------

  /**
   * Builds the keys and indexes of a table created by prepare(), after its first write (or in
   * finish()). A later write into it then finds its key, as into any existing table. A key the
   * rows break (the backup holds a key twice) fails here, as DatabaseError naming it.
   */
  async #buildKeys(name: string): Promise<void> {
    const statements = this.#afterData.get(name)
    if (statements === undefined) return
    this.#afterData.delete(name)
    for (const statement of statements) {
      await this.#run({ text: statement, queryMode: 'extended' }, { action: 'building keys and indexes', table: name })
    }
    this.#tables = undefined
  }

  #writeColumns(target: PgTable, declared: readonly ColumnSchema[]): WriteColumn[] {
    const columns: WriteColumn[] = []
    for (const column of declared) {
      const found = target.columns.find((c) => c.schema.name === column.name)
      if (!found) {
        throw new UsageError(`Table "${target.schema.name}" in ${this.#where()} has no column "${column.name}", which the backup has.`, {
          code: 'SCHEMA_MISMATCH',
        })
      }
      if (found.schema.generated !== undefined) continue
      columns.push({ name: column.name, target: found, sourceKind: column.kind, sourceElementKind: column.elementKind })
    }
    return columns
  }

  async #hasRows(table: PgTable, context: ErrorContext): Promise<boolean> {
    const result = await this.#run({ text: `SELECT EXISTS (SELECT 1 FROM ${fromClause(this.#schema, table)}) AS has` }, context)
    return (result.rows[0] as { has: boolean }).has
  }

  /** COPY FROM STDIN into `relation` on this session (postgres-connection.ts copyFromStdin). */
  #copyInto(relation: string, columns: readonly WriteColumn[], lines: AsyncIterable<string | Buffer>, context: ErrorContext): Promise<number> {
    return copyFromStdin(this.#client, relation, columns.map((c) => c.name), lines, context)
  }

  async #writeThroughStage(target: PgTable, columns: readonly WriteColumn[], lines: AsyncIterable<string>, context: ErrorContext): Promise<WriteResult> {
    return this.#insertThroughStage(target, columns, (stage) => this.#copyInto(stage, columns, lines, context), context)
  }

  /** Fills the table's staging table with `fill`, then inserts what does not exist yet (module comment). */
  async #insertThroughStage(
    target: PgTable,
    columns: readonly WriteColumn[],
    fill: (stage: string) => Promise<number>,
    context: ErrorContext,
  ): Promise<WriteResult> {
    const list = columns.map((c) => quoteIdent(c.name)).join(', ')
    // One staging table per target table and column list, reused (emptied) across calls: a merge
    // writes in many small batches, and creating a table per batch would churn the catalog.
    const stageKey = `${target.schema.name}\u0000${list}`
    let stageName = this.#stages.get(stageKey)
    if (stageName === undefined) {
      stageName = `mergeback_stage_${this.#stages.size + 1}`
      const selectList = columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ')
      await this.#run(
        { text: `CREATE TEMP TABLE ${quoteIdent(stageName)} ON COMMIT DROP AS SELECT ${selectList} FROM ${fromClause(this.#schema, target)} WITH NO DATA` },
        context,
      )
      this.#stages.set(stageKey, stageName)
    }
    const stage = `pg_temp.${quoteIdent(stageName)}`
    const staged = await fill(stage)
    const into = `INSERT INTO ${qualify(this.#schema, target.schema.name)} (${list})${columns.some((c) => c.target.schema.identity === 'always') ? ' OVERRIDING SYSTEM VALUE' : ''}`
    const key = this.#skipKey(target)
    let sql: string
    const onConflict = !target.hasDeferrableKey && !target.hasWriteRules
    if (key && onConflict) {
      sql = `${into} SELECT ${list} FROM ${stage} ON CONFLICT DO NOTHING`
    } else if (key && key.every((c) => columns.some((w) => w.name === c))) {
      // ON CONFLICT cannot use a DEFERRABLE key: skip existing keys with an anti-join, and
      // duplicates inside the backup with DISTINCT ON.
      const written = new Set(columns.map((c) => c.name))
      const keys = [target.schema.primaryKey, ...target.schema.uniqueConstraints.map((u) => u.columns)].filter(
        (k) => k.length > 0 && k.every((c) => written.has(c)),
      )
      const notExists = keys
        .map((k) => `NOT EXISTS (SELECT 1 FROM ${fromClause(this.#schema, target)} WHERE ${k.map((c) => `t.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(' AND ')})`)
        .join(' AND ')
      const distinct = key.map((c) => `s.${quoteIdent(c)}`).join(', ')
      sql = `${into} SELECT DISTINCT ON (${distinct}) ${columns.map((c) => `s.${quoteIdent(c.name)}`).join(', ')} FROM ${stage} AS s WHERE ${notExists} ORDER BY ${distinct}`
    } else {
      // Whole-row identity: the multiset difference keeps exactly the backup rows that have no
      // identical partner in the table, pairing duplicates one to one.
      const compare = (alias: string): string =>
        columns.map((c, i) => `${alias}.${quoteIdent(c.name)}${c.target.comparable ? '' : '::text'} AS c${i}`).join(', ')
      const restore = columns.map((c, i) => (c.target.comparable ? `d.c${i}` : `d.c${i}::${c.target.schema.type}`)).join(', ')
      const tableSide = `SELECT ${compare('t')} FROM ${fromClause(this.#schema, target)}`
      // Only table rows that share one column's value with a staged row can be identical to one.
      // For a few staged rows against a large table, a semi-join on that column spares hashing
      // the whole table (measured 4-5x faster with 1 000 against 1 M rows); for as many staged
      // rows as the table holds it costs more than it saves (7.2 s against 5.5 s), so only then.
      const filter = columns.find((c) => c.target.comparable && c.target.schema.kind !== 'boolean' && c.target.schema.kind !== 'enum')
      const narrow = filter !== undefined && staged * 10 < (await this.#estimatedRows(target, context))
      const candidates = narrow
        ? `${tableSide} WHERE t.${quoteIdent(filter.name)} IN (SELECT s.${quoteIdent(filter.name)} FROM ${stage} AS s) ` +
          `UNION ALL ${tableSide} WHERE t.${quoteIdent(filter.name)} IS NULL`
        : tableSide
      sql =
        `${into} SELECT ${restore} FROM (SELECT ${compare('s')} FROM ${stage} AS s EXCEPT ALL (${candidates})) AS d` +
        (onConflict ? ' ON CONFLICT DO NOTHING' : '')
    }
    const result = await this.#run({ text: sql }, context)
    await this.#run({ text: `TRUNCATE ${stage}` }, context)
    const inserted = result.rowCount ?? 0
    return { inserted, skipped: staged - inserted }
  }

  /** The planner's row estimate of a table (0 when it was never analyzed). */
  async #estimatedRows(table: PgTable, context: ErrorContext): Promise<number> {
    const result = await this.#run({ text: 'SELECT reltuples::float8 AS n FROM pg_catalog.pg_class WHERE oid = $1', values: [table.oid] }, context)
    return Math.max(0, Number((result.rows[0] as { n: number | null } | undefined)?.n ?? 0))
  }

  /** The key that decides "already there": the primary key, or a unique constraint on NOT NULL columns. */
  #skipKey(table: PgTable): readonly string[] | undefined {
    if (table.schema.primaryKey.length > 0) return table.schema.primaryKey
    const notNull = new Set(table.columns.filter((c) => !c.schema.nullable).map((c) => c.schema.name))
    return table.schema.uniqueConstraints.find((u) => u.columns.every((c) => notNull.has(c)))?.columns
  }

  // -- merge support ---------------------------------------------------------------------------

  #keyColumns(table: PgTable, keyColumns: readonly string[]): PgColumn[] {
    if (keyColumns.length === 0) throw new InternalError(`No key columns given for "${table.schema.name}".`)
    return keyColumns.map((name) => {
      const column = table.columns.find((c) => c.schema.name === name)
      if (!column) throw new UsageError(`Table "${table.schema.name}" in ${this.#where()} has no column "${name}".`)
      return column
    })
  }

  /** A wire value as a `text[]` parameter element, for a target column. */
  #paramText(value: WireValue | undefined, column: PgColumn, table: string): string | null {
    try {
      return wireToPgText(value, column.schema.kind, column.schema.kind, column.schema.elementKind, column.schema.elementKind)
    } catch (error) {
      if (error instanceof FormatError) throw new FormatError(`Table "${table}", column "${column.schema.name}": ${error.message}`, { table, cause: error })
      throw error
    }
  }

  // -- finish ----------------------------------------------------------------------------------

  /** Moves every sequence feeding a column of the prepared tables past that column's maximum. */
  async #moveSequences(): Promise<void> {
    if (this.#preparedTables.length === 0) return
    const context: ErrorContext = { action: 'moving sequences' }
    const tables = await this.#targetTables()
    const oids = this.#preparedTables.map((name) => tables.get(name)?.oid).filter((oid): oid is number => oid !== undefined)
    if (oids.length === 0) return
    const sequences = (
      await this.#run(
        {
          // Owned sequences (serial: deptype a, identity: deptype i) and any sequence a
          // column default calls nextval() on.
          text: `SELECT DISTINCT c.relname AS table_name, c.relkind, a.attname, s.oid::regclass::text AS sequence
                   FROM pg_catalog.pg_depend d
                   JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                   JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
                    AND d.deptype IN ('a', 'i') AND d.refobjid = ANY($1::oid[])
                 UNION
                 SELECT c.relname, c.relkind, a.attname, s.oid::regclass::text
                   FROM pg_catalog.pg_attrdef ad
                   JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid
                                             AND d.refclassid = 'pg_catalog.pg_class'::regclass
                   JOIN pg_catalog.pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
                   JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
                  WHERE ad.adrelid = ANY($1::oid[])`,
          values: [oids],
        },
        context,
      )
    ).rows as { table_name: string; relkind: string; attname: string; sequence: string }[]
    for (const row of sequences) {
      const from = `${row.relkind === 'r' ? 'ONLY ' : ''}${qualify(this.#schema, row.table_name)}`
      // Only ascending sequences, and only forwards: a sequence already past the data stays.
      await this.#run(
        {
          text: `SELECT pg_catalog.setval($1::regclass, m.v)
                   FROM (SELECT max(${quoteIdent(row.attname)})::bigint AS v FROM ${from}) AS m, pg_catalog.pg_sequence s
                  WHERE s.seqrelid = $1::regclass AND s.seqincrement > 0 AND m.v IS NOT NULL
                    AND m.v >= COALESCE(pg_catalog.pg_sequence_last_value($1::regclass) + 1, s.seqstart)`,
          values: [row.sequence],
        },
        { action: `moving sequence ${row.sequence}`, table: row.table_name },
      )
    }
  }

  // -- plumbing --------------------------------------------------------------------------------

  async #introspect() {
    try {
      const introspection = await introspect(this.#client, this.#schema)
      this.#tables = new Map(introspection.tables.map((t) => [t.schema.name, t]))
      return introspection
    } catch (error) {
      throw toDatabaseError(error, { action: 'describing the target' })
    }
  }

  async #targetTables(): Promise<Map<string, PgTable>> {
    if (!this.#tables) await this.#introspect()
    return this.#tables!
  }

  async #table(name: string): Promise<PgTable> {
    const table = (await this.#targetTables()).get(name)
    if (!table) throw new UsageError(`Table "${name}" does not exist in ${this.#where()}.`, { code: 'SCHEMA_MISMATCH' })
    return table
  }

  #where(): string {
    return `schema "${this.#schema}" of database "${this.#config.database}"`
  }

  #assertOpen(what: string): void {
    if (this.#state !== 'open') throw new InternalError(`Cannot ${what}: the PostgreSQL destination is ${this.#state}.`)
  }

  /**
   * Runs one statement after the ones already sent have finished. The merge reads ahead (the next
   * digest FETCH while a batch is read by key); pg would queue the second query itself, but it
   * deprecates that (a warning on the user's terminal, and an error in pg 9), so the queue is here.
   * Nothing is lost: one connection runs one statement at a time either way.
   */
  async #run(query: pg.QueryConfig & { rowMode?: 'array'; types?: unknown; queryMode?: 'extended' }, context: ErrorContext): Promise<pg.QueryResult> {
    const turn = this.#lastQuery.then(async () => {
      try {
        return await this.#client.query(query as pg.QueryConfig)
      } catch (error) {
        throw toDatabaseError(error, context)
      }
    })
    this.#lastQuery = turn.then(
      () => undefined,
      () => undefined,
    )
    return turn
  }
}

/** The iterable `promised` gives, once it does. */
async function* later<T>(promised: Promise<AsyncIterable<T>>): AsyncGenerator<T, void, undefined> {
  yield* await promised
}

/**
 * The spooled COPY (CSV, delimiter 0x02) of a digest read as the cursor's batches: each line is
 * the key's JSON text (never holding a raw control character), 0x02, and 32 hex digits.
 */
async function* digestBatches(chunks: AsyncIterable<Buffer>, table: string): AsyncGenerator<RowDigests, void, undefined> {
  let rest: Buffer | undefined
  let batch: RowDigest[] = []
  for await (const chunk of chunks) {
    const data = rest === undefined ? chunk : Buffer.concat([rest, chunk])
    let start = 0
    let end: number
    while ((end = data.indexOf(10, start)) !== -1) {
      const cut = end - 33
      if (cut < start || data[cut] !== 2) throw new InternalError(`The second session's digests of "${table}" have a line of another shape.`)
      batch.push([data.toString('utf8', start, cut), data.toString('latin1', cut + 1, end)])
      start = end + 1
      if (batch.length === DIGESTS_PER_FETCH) {
        yield packRowDigests(batch)
        batch = []
      }
    }
    rest = start < data.length ? data.subarray(start) : undefined
  }
  if (rest !== undefined) throw new InternalError(`The second session's digests of "${table}" ended inside a line.`)
  if (batch.length > 0) yield packRowDigests(batch)
}

/**
 * The digest read of a keyed table with its rows packed in pages: each row of this query is one
 * page of DIGESTS_PER_PAGE rows in key order (fewer in the last), `count`, their digests one after
 * another, their keys each ended by a newline (JSON text holds none raw): what readRowDigests'
 * plain select gives, row by row. A recursive query takes each page after the previous page's
 * last key (compared as the rows are ordered, one row comparison over the key columns), so the
 * server streams the pages as the cursor asks, as it does the plain select's rows; the driver
 * then makes three strings a page, not an array and two strings a row (docs/performance.md,
 * round fourteen). `where` (the split read's bound) is kept on every page. Undefined when a
 * column has the name the page key is given.
 */
function packedDigestSelect(schema: string, table: PgTable, columnNames: readonly string[], where: string | undefined): string | undefined {
  const key = table.schema.primaryKey
  const lastKey = key.map((_, i) => `mergeback_page_key${i}`)
  if (key.length === 0 || columnNames.some((c) => lastKey.includes(c))) return undefined
  const ordered = key.map((c) => keyColumnInOrder(table, c, 't'))
  // Only a key read in its own index's order: a page after a key compared `COLLATE "C"` (a text key
  // of a database whose collation is not code point order) would have PostgreSQL scan and sort the
  // rest of the table once a page, quadratic in its rows; such tables are read row by row.
  if (ordered.some((expression, i) => expression !== `t.${quoteIdent(key[i]!)}`)) return undefined
  const page = (after: string | undefined): string | undefined => {
    const condition = after === undefined ? where : `${where === undefined ? ' WHERE' : `${where} AND`} (${ordered.join(', ')}) > (${after})`
    const extra = ordered.map((expression, i) => `${expression} AS ${lastKey[i]}`).join(', ')
    const inner = recordLineSelect(schema, table, columnNames, { ordered: true, where: condition, extra })
    if (inner === undefined) return undefined
    // The record line is the row of `r`, which has the line's columns only (not the page key).
    const line = columnNames.map((c) => `q.${quoteIdent(c)} AS ${quoteIdent(c)}`).join(', ')
    const last = lastKey.map((name) => `(pg_catalog.array_agg(z.${name} ORDER BY z.i DESC))[1] AS ${name}`).join(', ')
    return (
      `SELECT pg_catalog.count(*)::int AS n, pg_catalog.string_agg(z.d, '' ORDER BY z.i) AS d, pg_catalog.string_agg(z.k, E'\\n' ORDER BY z.i) || E'\\n' AS k, ${last} FROM (` +
      `SELECT pg_catalog.row_number() OVER (ORDER BY ${lastKey.map((name) => `q.${name}`).join(', ')}) AS i, ${lastKey.map((name) => `q.${name}`).join(', ')}, ` +
      `pg_catalog.json_build_array(${key.map((c) => `r.${quoteIdent(c)}`).join(', ')})::text AS k, ${recordLineDigest('r')} AS d ` +
      `FROM (${inner} LIMIT ${DIGESTS_PER_PAGE}) AS q, LATERAL (SELECT ${line}) AS r) AS z`
    )
  }
  const first = page(undefined)
  if (first === undefined) return undefined
  const columns = ['n', 'd', 'k', ...lastKey]
  const next = page(lastKey.map((name) => `pages.${name}`).join(', '))!
  return (
    `WITH RECURSIVE pages(${columns.join(', ')}) AS ((${first}) UNION ALL ` +
    `(SELECT ${columns.map((c) => `x.${c}`).join(', ')} FROM pages, LATERAL (${next}) AS x WHERE pages.n = ${DIGESTS_PER_PAGE})) SELECT n, d, k FROM pages`
  )
}

/** Matches a table's key columns (alias t) against unnested text parameters (alias `alias`). */
function keyMatch(columns: readonly PgColumn[], alias: string): { left: string; right: string } {
  return {
    left: columns.map((c) => `t.${quoteIdent(c.schema.name)}${c.comparable ? '' : '::text'}`).join(', '),
    right: columns.map((c, i) => (c.comparable ? `${alias}.c${i}::${c.schema.type}` : `${alias}.c${i}`)).join(', '),
  }
}

/**
 * Turns batches of wire rows into COPY text-format chunks (one per batch), converting each value
 * by its target column. A value that cannot be converted is a FormatError naming the table,
 * column and the row's position in this write.
 */
async function* encodeBatches(
  first: IteratorResult<Row[]>,
  iterator: AsyncIterator<Row[]>,
  columns: readonly WriteColumn[],
  table: string,
): AsyncGenerator<string, void, undefined> {
  let recordIndex = 0
  let current = first
  let finished = false
  try {
    while (!current.done) {
      const chunk = copyText(current.value, columns, table, recordIndex)
      recordIndex += current.value.length
      if (chunk) yield chunk
      current = await iterator.next()
    }
    finished = true
  } finally {
    if (!finished) await iterator.return?.().catch(() => {})
  }
}

/** Rows as COPY text-format lines; `firstIndex` numbers them in errors. */
function copyText(rows: readonly Row[], columns: readonly WriteColumn[], table: string, firstIndex: number): string {
  const read = columns.map((c) => (c.name === '__proto__' ? (row: Row) => (Object.hasOwn(row, c.name) ? row[c.name] : undefined) : (row: Row) => row[c.name]))
  let chunk = ''
  let recordIndex = firstIndex
  for (const row of rows) {
    let line = ''
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i]
      let text: string | null
      try {
        text = wireToPgText(read[i](row), column.sourceKind, column.target.schema.kind, column.target.schema.elementKind, column.sourceElementKind)
      } catch (error) {
        if (!(error instanceof MergebackError)) throw error
        throw new FormatError(`Table "${table}", record ${recordIndex}, column "${column.name}": ${error.message}`, { table, recordIndex, cause: error })
      }
      if (i > 0) line += '\t'
      line += text === null ? '\\N' : escapeCopyText(text)
    }
    chunk += `${line}\n`
    recordIndex++
  }
  return chunk
}

/**
 * Chunks of record lines as chunks of COPY text: each line rewritten byte for byte
 * (postgres-copy-lines.ts), or, when it cannot be, parsed and encoded as writeRows does.
 */
async function* copyLines(chunks: AsyncIterable<Buffer>, plan: CopyLinePlan, columns: readonly WriteColumn[], table: string): AsyncGenerator<Buffer> {
  let recordIndex = 0
  for await (const chunk of chunks) {
    const out = new TextOutput(chunk.length + (chunk.length >> 2) + 1024)
    for (let start = 0; start < chunk.length; ) {
      const end = chunk.indexOf(0x0a, start)
      if (!lineToCopy(chunk, start, end, plan, out)) {
        out.appendString(copyText([JSON.parse(chunk.toString('utf8', start, end)) as Row], columns, table, recordIndex))
      }
      recordIndex++
      start = end + 1
    }
    yield out.finish()
  }
}

/** The columns COPY writes into `target` (a table created from `table`) and, when every kind is the same in both, the plan that rewrites record lines. */
function stagedCopyPlan(table: TableSchema, target: PgTable): { readonly columns: WriteColumn[]; readonly plan: CopyLinePlan | undefined } {
  const columns: WriteColumn[] = []
  for (const column of table.columns) {
    const found = target.columns.find((c) => c.schema.name === column.name)
    if (!found) throw new InternalError(`Staged table "${table.name}" has no column "${column.name}".`)
    if (found.schema.generated === undefined) columns.push({ name: column.name, target: found, sourceKind: column.kind, sourceElementKind: column.elementKind })
  }
  const byName = new Map(columns.map((c) => [c.name, c]))
  const sameKinds = columns.every((c) => c.sourceKind === c.target.schema.kind)
  const plan = sameKinds ? copyLinePlan(table.columns.map((c) => ({ name: c.name, kind: byName.get(c.name)?.target.schema.kind ?? 'skip' }))) : undefined
  return { columns, plan }
}

/**
 * For the staged restore (postgres-staged-restore.ts): a table's record lines as COPY text for
 * `target` (a table created from `table`), with the columns in COPY order. Lines are rewritten
 * byte by byte where the kinds allow (copyLinePlan), else parsed and encoded as writeRows does.
 * `converted`: the chunks are COPY text already (the reader's stagedLineConverter made them).
 */
export function copyTextOfLines(
  table: TableSchema,
  target: PgTable,
  chunks: AsyncIterable<Buffer>,
  converted = false,
): { readonly columns: readonly string[]; readonly lines: AsyncIterable<Buffer | string> } {
  const { columns, plan } = stagedCopyPlan(table, target)
  const lines =
    converted
      ? chunks
      : plan !== undefined
      ? copyLines(chunks, plan, columns, table.name)
      : (async function* () {
          let recordIndex = 0
          for await (const chunk of chunks) {
            const rows: Row[] = []
            for (let start = 0; start < chunk.length; ) {
              const end = chunk.indexOf(0x0a, start)
              rows.push(JSON.parse(chunk.toString('utf8', start, end)) as Row)
              start = end + 1
            }
            yield copyText(rows, columns, table.name, recordIndex)
            recordIndex += rows.length
          }
        })()
  return { columns: columns.map((c) => c.name), lines }
}

/** A batch of lines is cut once it passes 1 MiB (reader.ts); its COPY text is about as long. */
export const COPY_OUTPUT_BYTES = (1 << 20) + (1 << 18)

/**
 * For the staged restore: the reader's converter of `table`'s record lines into the COPY text
 * copyTextOfLines would make of them (LineConverter), or undefined when the kinds allow no
 * byte-for-byte rewrite. The reader checks and converts each line in one walk (lineToCopy, with
 * the key values' bounds); a line that walk refuses it checks its own way and hands to
 * `convert`, which converts it as copyLines does.
 * With `buffers`, each batch's COPY text is written into one of them: the consumer gives it back
 * once the text is written (copyFromStdin's `written`).
 */
export function stagedLineConverter(table: TableSchema, target: PgTable, buffers?: ChunkPool): LineConverter | undefined {
  const { columns, plan } = stagedCopyPlan(table, target)
  if (plan === undefined) return undefined
  let out: TextOutput | undefined
  let recordIndex = 0
  const output = (): TextOutput => (out ??= new TextOutput(buffers?.take(COPY_OUTPUT_BYTES) ?? COPY_OUTPUT_BYTES))
  return {
    convertChecked(buffer, start, end, shape) {
      shape.keyBounds.fill(-1)
      if (!lineToCopy(buffer, start, end, plan, output(), shape.keyPlace, shape.keyBounds)) return false
      recordIndex++
      return true
    },
    convert(line) {
      const into = output()
      if (!lineToCopy(line, 0, line.length, plan, into)) into.appendString(copyText([JSON.parse(line.toString('utf8')) as Row], columns, table.name, recordIndex))
      recordIndex++
    },
    take() {
      const text = output().finish()
      out = undefined
      return text
    },
  }
}
