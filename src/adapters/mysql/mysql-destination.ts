/**
 * Writing into a MySQL/MariaDB database: one connection, one transaction, all or nothing — with
 * the one hole MySQL has, DDL, closed by hand.
 *
 * 1. open: a dedicated connection (mysql-config session settings) with
 *    `SET SESSION foreign_key_checks = 0`, so rows can arrive in any order and cycles need no
 *    special handling. It is set back to 1 in commit()/rollback() in a `finally`, whatever
 *    happened, before the connection is released.
 * 2. prepare: validates everything first (a missing table in merge mode, a backup column the
 *    table lacks, user triggers on a selected table: MariaDB cannot switch triggers off for a
 *    session, and a trigger would make the result differ from the backup — an AFTER INSERT that
 *    writes into another table of the backup makes a restore fail on duplicate keys, a BEFORE
 *    UPDATE that stamps `updated_at` rewrites merged values — so they are refused with a
 *    UsageError naming them, unless the caller allows them (`allowTriggers`: they then run, and
 *    the report says which), then — restore only — creates the missing tables. MySQL commits DDL
 *    implicitly, so the tables are created *before* the data transaction starts, under staging
 *    names (mysql-staging.ts), and loaded there; commit() swaps them in with one RENAME TABLE
 *    (which commits the transaction implicitly): a kill -9 before it leaves only staging tables,
 *    which the next write session on the database removes. rollback() drops them, which leaves a
 *    failed restore into an empty database empty. When every selected table is new and `jobs`
 *    allows, the staging tables are loaded outside the transaction on that many sessions (each
 *    LOAD commits on its own into tables nobody sees; #loaders, #writeByKey), and the transaction
 *    starts in finish(), once every load has committed. Otherwise `START TRANSACTION`, and with `drop` a `DELETE FROM` of each selected
 *    table (DELETE, not TRUNCATE: TRUNCATE would commit; with foreign key checks off it never
 *    cascades into other tables).
 * 3. writeRows: LOAD DATA LOCAL INFILE straight into the table, streamed (LoadChannel). A LOCAL
 *    load skips rows whose key exists by itself (and says so with a 1062 warning per row), which
 *    is skip-existing; every other warning means MySQL changed or refused a value, and fails the
 *    load. Rows that leave a column out, and all rows when LOCAL INFILE is off, go through
 *    multi-row `INSERT … ON DUPLICATE KEY UPDATE k = k` (InsertChannel): with the FOUND_ROWS
 *    client flag off a skipped row counts 0 affected rows. Unlike INSERT IGNORE neither path
 *    lets a NOT NULL, range or CHECK violation pass.
 *    A table with neither a primary key nor a unique NOT NULL key uses whole-row identity
 *    (counting duplicates, NULL equal to NULL): when the table was not empty, each batch goes
 *    through a temporary staging table and only the copies the table does not already hold are
 *    inserted (see #writeByRowIdentity).
 *    A table this restore creates is usually written by writeRecordLines instead: the reader
 *    makes each record line's LOAD DATA text as it checks it (mysql-load-lines.ts), and the
 *    lines go into the same LoadChannel without a row object (acceptsRecordLines says when).
 * 4. readByKeys / updateRows (merge): `WHERE (a, b) IN ((…), …)` in chunks; updates set-wise
 *    through a temporary table with the target's column types, `UPDATE t JOIN tmp ON keys`.
 *    Foreign key checks stay off while rows load, as in `mysql < dump`: InnoDB's check of each
 *    row (a shared lock on its parent row) made a scale-20 restore 75.6 s where loading unchecked
 *    and checking afterwards takes 60.2 s (docs/performance.md).
 * 5. finish: checks with one anti-join each the foreign keys of the tables written (an orphan
 *    row is a DatabaseError naming the table, the constraint and the row's key; with loading
 *    sessions, the checks run side by side on them too), and
 *    schedules AUTO_INCREMENT moves for any counter not already past the highest id (InnoDB
 *    normally moves it itself on explicit inserts; ALTER TABLE would commit, so it runs after
 *    COMMIT).
 */
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import type { ResultSetHeader, RowDataPacket } from 'mysql2'
import type {
  Capabilities,
  ColumnSchema,
  ConnectionConfig,
  DatabaseSchema,
  Destination,
  DestinationOptions,
  PrepareOptions,
  PrepareResult,
  Row,
  TableSchema,
  ValueKind,
  WriteResult,
} from '../adapter.js'
import { DatabaseError, MergebackError, UsageError } from '../../errors.js'
import { endSession, isDriverError, openSession, rowNumberFromMessage, toStatementError, type MysqlSession, type StatementContext } from './mysql-config.js'
import { createTableStatement, describeDatabase } from './mysql-introspector.js'
import type { SequenceFields } from '../types/sequences.js'
import type { LineConverter } from '../../format/reader.js'
import { PASSED_ON, loadLineConverter, loadLinePlan, type LoadLinePlan } from './mysql-load-lines.js'
import { SharedSource } from '../shared-source.js'
import { isStagingTable, newRunId, removeLeftovers, runLockName, StagingSet, type Leftovers } from './mysql-staging.js'
import {
  encoderFor,
  hasGeometry,
  loadDataField,
  quoteIdentifier,
  quoteString,
  rawGeometryTypeCast,
  selectExpression,
  sqlLiteral,
  typeClassOf,
  valueExpression,
  valueWriter,
  type Encoder,
  type ValueWriter,
} from './mysql-values.js'

/** Past this, bigger INSERT statements stop being faster (measured; docs/adapters-mysql.md). */
const MAX_STATEMENT_BYTES = 4 * 1024 * 1024
/**
 * One LOAD DATA statement streams at most this much: it bounds the rows kept to name a refused
 * one (restoring 1 M rows peaked at 300 MB RSS with 16 MiB, 250 MB with 4 MiB, as fast).
 */
const LOAD_CHUNK_BYTES = 4 * 1024 * 1024
/**
 * Rows per LOAD DATA statement: each skipped duplicate leaves a warning, and the session lists
 * at most 65535 (max_error_count), all of which must be checked.
 */
const LOAD_CHUNK_ROWS = 50_000
/** Encoded rows are handed to the LOAD DATA stream in pieces of about this size. */
const LOAD_PIECE_BYTES = 64 * 1024
/** Ends each LOAD DATA line. */
const LF = 0x0a
/** Rows per readByKeys query and per updateRows staging insert. */
const KEYS_PER_QUERY = 1000

type State = 'open' | 'committed' | 'rolled-back' | 'closed'

/** How one backup column is written: its name, the target column and its value writer. */
interface WriteColumn {
  readonly name: string
  readonly target: ColumnSchema
  readonly writer: ValueWriter
}

/** A MySQL/MariaDB write session. Created by `mysqlAdapter.openDestination()`. */
export class MysqlDestination implements Destination {
  readonly engine = 'mysql' as const
  readonly capabilities: Capabilities
  readonly #session: MysqlSession
  #state: State = 'open'
  #inTransaction = false
  #schema: DatabaseSchema | undefined
  /** Tables prepare() created (their staging names): DDL cannot be rolled back, so rollback() drops them. */
  readonly #created: string[] = []
  /** Restore: the tables created under staging names, swapped in by commit(). */
  #staging: StagingSet | undefined
  /** Staging tables of dead runs that open() removed (reported by prepare()). */
  #leftovers: Leftovers = { removed: [], busy: [] }
  /** Tables this session inserted into or updated (their foreign keys are checked in finish()). */
  readonly #written = new Set<string>()
  /** Tables whose referenced columns were updated: foreign keys pointing at them are checked in finish(). */
  readonly #referencedChanged = new Set<string>()
  /** Restore only: the selected tables, and those whose writeRows has finished. */
  /** `ALTER TABLE … AUTO_INCREMENT = n` to run right after COMMIT. */
  #pendingAutoIncrement: { table: string; next: string }[] = []
  /** Sequences prepare() created (DDL: rollback() drops them). */
  readonly #createdSequences: string[] = []
  /** The backup's MariaDB sequences that exist in the target: moved forward to the backup's position right after COMMIT. */
  #pendingSequences: SequenceFields[] = []
  #temporaryTables = 0
  /**
   * Restore into new tables only (prepare() opened them, PrepareOptions.jobs): more sessions that
   * load the staging tables beside this one. The rows then go in outside the write transaction,
   * each LOAD committed on its own — into staging tables nobody sees, which rollback() drops — so
   * that the server ingests on as many cores as sessions; finish() starts the transaction.
   */
  #loaders: MysqlSession[] = []
  /** Tables whose record lines the reader converts to LOAD DATA text (acceptsRecordLines). */
  readonly #linePlans = new Map<string, LoadLinePlan>()

  private constructor(session: MysqlSession, capabilities: Capabilities) {
    this.#session = session
    this.capabilities = capabilities
  }

  /** Connects and turns foreign key checks off for this session. Throws ConnectionError. */
  static async open(config: ConnectionConfig, capabilities: Capabilities, options: DestinationOptions = {}): Promise<MysqlDestination> {
    const session = await openSession(config)
    try {
      if (options.readOnly) {
        // analyze: one consistent snapshot from the start (describe included), no locks, SELECT only.
        await session.connection.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
        const destination = new MysqlDestination(session, capabilities)
        destination.#inTransaction = true
        return destination
      }
      await setUpWriteSession(session)
    } catch (error) {
      await endSession(session)
      throw toStatementError(error, { action: 'setting up the session' })
    }
    let leftovers: Leftovers
    try {
      // A restore killed before its swap left staging tables: remove those of dead runs (a run
      // killed a moment ago may hold its lock until the server notices: wait briefly for it).
      leftovers = await removeLeftovers(session.connection, { waitSeconds: 2 })
    } catch (error) {
      await endSession(session)
      throw toStatementError(error, { action: 'removing staging tables left by an interrupted restore' })
    }
    const destination = new MysqlDestination(session, capabilities)
    destination.#leftovers = leftovers
    return destination
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  async #run<T extends ResultSetHeader | RowDataPacket[]>(sql: string, context: StatementContext = {}): Promise<T> {
    try {
      const [result] = await this.#session.connection.query<T>(sql)
      return result
    } catch (error) {
      throw toStatementError(error, context)
    }
  }

  #assertOpen(): void {
    if (this.#state !== 'open') throw new UsageError(`This MySQL destination is ${this.#state}: no more writes.`, { code: 'CLOSED' })
  }

  async #begin(): Promise<void> {
    if (this.#inTransaction || this.#loaders.length > 0) return
    await this.#run('START TRANSACTION', { action: 'starting the transaction' })
    this.#inTransaction = true
  }

  async #targetSchema(): Promise<DatabaseSchema> {
    this.#schema ??= await this.describe()
    return this.#schema
  }

  async #targetTable(name: string): Promise<TableSchema> {
    const table = (await this.#targetSchema()).tables.find((t) => t.name === name)
    if (!table) throw new UsageError(`Table "${name}" does not exist in database ${this.#session.config.database}.`, { code: 'UNKNOWN_TABLE' })
    return table
  }

  /** The quoted name statements use for a table: its staging name while it is staged. */
  #q(table: string): string {
    return quoteIdentifier(this.#staging?.sqlName(table) ?? table)
  }

  #temporaryName(purpose: string): string {
    return `mergeback_${purpose}_${++this.#temporaryTables}`
  }

  // -------------------------------------------------------------------------------------------
  // Destination

  /**
   * The target's tables as the caller knows them: this run's staging tables under their real
   * names (foreign keys too), other runs' staging tables left out.
   */
  async describe(): Promise<DatabaseSchema> {
    let schema: DatabaseSchema
    try {
      schema = await describeDatabase(this.#session.connection, this.#session.config.database, this.#session.flavor)
    } catch (error) {
      throw error instanceof MergebackError ? error : toStatementError(error, { action: 'describing the database' })
    }
    const staging = this.#staging
    const kept = schema.tables.filter((t) => staging?.realName(t.name) !== undefined || !isStagingTable(t.name))
    if (staging === undefined) return { ...schema, tables: kept }
    const real = (name: string): string => staging.realName(name) ?? name
    const tables = kept
      .map((t) => {
        const foreignKeys = t.foreignKeys.map((fk) => (staging.realName(fk.referencedTable) === undefined ? fk : { ...fk, referencedTable: real(fk.referencedTable) }))
        return { ...t, name: real(t.name), foreignKeys }
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    return { ...schema, tables }
  }

  async prepare(backupSchema: DatabaseSchema, options: PrepareOptions): Promise<PrepareResult> {
    this.#assertOpen()
    const target = await this.#targetSchema()
    const existing = new Map(target.tables.map((t) => [t.name, t]))
    const warnings: string[] = []
    if (this.#leftovers.removed.length > 0) {
      warnings.push(`Removed ${this.#leftovers.removed.length} staging table(s) left by an interrupted restore: ${this.#leftovers.removed.join(', ')}.`)
    }
    if (this.#leftovers.busy.length > 0) {
      warnings.push(`Staging tables of a restore still running on this database were left alone: ${this.#leftovers.busy.join(', ')}.`)
    }
    this.#leftovers = { removed: [], busy: [] }
    const missing = backupSchema.tables.filter((t) => !existing.has(t.name))

    // Validate everything before the first CREATE: bad input must change nothing.
    if (options.mode === 'merge' && missing.length > 0) {
      throw new UsageError(
        `Cannot merge into database ${this.#session.config.database}: table ${missing.map((t) => `"${t.name}"`).join(', ')} does not exist there (a merge creates nothing; restore it first).`,
        { code: 'MISSING_TABLE' },
      )
    }
    for (const table of backupSchema.tables) {
      const current = existing.get(table.name)
      if (!current) continue
      const have = new Set(current.columns.map((c) => c.name))
      const lacking = table.columns.filter((c) => !have.has(c.name)).map((c) => c.name)
      if (lacking.length > 0) {
        throw new UsageError(
          `Table "${table.name}" in database ${this.#session.config.database} has no column ${lacking.map((c) => `"${c}"`).join(', ')}, which the backup has: writing would lose those values.`,
          { code: 'SCHEMA_MISMATCH' },
        )
      }
      const engine = String(current.options?.engine ?? '')
      if (engine && !/^innodb$/i.test(engine)) warnings.push(`${table.name} uses the ${engine} engine: writes to it are not undone by a rollback.`)
    }

    const triggers = await this.#userTriggers(backupSchema.tables.filter((t) => existing.has(t.name)).map((t) => t.name))
    if (triggers.length > 0) {
      const listed = triggers.map((t) => `${t.name} (${t.timing} ${t.event} on ${t.table})`).join(', ')
      if (!options.allowTriggers) {
        throw new UsageError(
          `Database ${this.#session.config.database} has triggers on tables this ${options.mode} writes: ${listed}. MariaDB cannot switch triggers off for one session, ` +
            `and they would make the result differ from the backup (values rewritten, rows added to other tables). Drop them for the ${options.mode} and re-create them afterwards ` +
            `(SHOW CREATE TRIGGER shows their definition), exclude those tables, or pass --allow-triggers to let them run. Nothing was changed.`,
          { code: 'TRIGGERS', details: { triggers: triggers.map((t) => ({ table: t.table, trigger: t.name })) } },
        )
      }
      warnings.push(`Triggers ran during this ${options.mode} (--allow-triggers), so the result may differ from the backup: ${listed}.`)
    }

    if (options.mode === 'restore' && options.drop) await this.#checkDropAllowed(backupSchema, target)

    warnings.push(...(await this.#prepareSequences(backupSchema, options.mode)))

    const created: string[] = []
    if (options.mode === 'restore' && missing.length > 0) {
      // Staging names, and this run's lock that tells other runs they are in use.
      const staging = new StagingSet(newRunId(), missing.map((t) => t.name))
      const [lock] = await this.#run<RowDataPacket[]>(`SELECT GET_LOCK(${quoteString(runLockName(staging.runId))}, 0) AS got`, { action: 'taking the staging lock' })
      if (Number(lock?.got) !== 1) throw new DatabaseError(`Could not take the staging lock ${runLockName(staging.runId)}; try again.`, {})
      this.#staging = staging
      // Another engine's tables: the cross-engine mapping sees the whole backup (foreign-key
      // columns typed as their parents) and keeps foreign key names unique in the database.
      const context = {
        tables: backupSchema.tables,
        usedNames: new Set([...existing.values()].flatMap((t) => t.foreignKeys.map((fk) => fk.name.toLowerCase()))),
      }
      for (const table of missing) {
        warnings.push(...(await this.#createTable(table, backupSchema.engine, staging, context)))
        created.push(table.name)
      }
      this.#schema = undefined
      // Only when nothing outside the staging tables is written: a row of an existing table must
      // wait for the one transaction, and a table emptied by `drop` must stay full to others until then.
      if (missing.length === backupSchema.tables.length) await this.#openLoaders((options.jobs ?? 1) - 1)
    }

    await this.#begin()
    const emptied: string[] = []
    if (options.mode === 'restore' && options.drop) {
      for (const table of backupSchema.tables) {
        if (created.includes(table.name)) continue
        await this.#run(`DELETE FROM ${this.#q(table.name)}`, { table: table.name, action: `emptying ${table.name}` })
        emptied.push(table.name)
        // No foreign key needs checking for this: #checkDropAllowed made sure that no row outside
        // the selection points here, and every row inside it is written (and checked) anew.
      }
    }
    const undoable = options.mode === 'restore' && missing.length > 0 && missing.length === backupSchema.tables.length
    return { created, emptied, warnings, sessions: 1 + this.#loaders.length, undoable }
  }

  async #openLoaders(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const session = await openSession(this.#session.config)
      this.#loaders.push(session)
      try {
        await setUpWriteSession(session)
      } catch (error) {
        throw toStatementError(error, { action: 'setting up a loading session' })
      }
    }
  }

  /** Ends the loading sessions; none of them has a statement running (writeRows waits for its lanes). */
  async #endLoaders(): Promise<void> {
    const loaders = this.#loaders
    this.#loaders = []
    for (const session of loaders) await endSession(session)
  }

  /**
   * The backup's MariaDB sequences (`options.sequences`, already checked by the schema guard):
   * a restore creates each one the target lacks from its fields, before the tables whose
   * defaults name it, at the backup's position; one the target has is moved forward to that
   * position after COMMIT (SETVAL never moves a sequence back). A merge creates nothing.
   */
  async #prepareSequences(backupSchema: DatabaseSchema, mode: PrepareOptions['mode']): Promise<string[]> {
    const wanted = new Map<string, SequenceFields>()
    for (const table of backupSchema.tables) {
      const sequences = table.options?.sequences
      if (!Array.isArray(sequences)) continue
      for (const sequence of sequences as SequenceFields[]) if (!wanted.has(sequence.name)) wanted.set(sequence.name, sequence)
    }
    this.#pendingSequences = []
    if (wanted.size === 0) return []
    if (this.#session.flavor !== 'mariadb') {
      throw new UsageError(`The backup carries MariaDB sequences (${[...wanted.keys()].join(', ')}), which MySQL does not have. Nothing was changed.`, { code: 'SEQUENCES' })
    }
    const rows = await this.#run<RowDataPacket[]>(
      `SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${[...wanted.keys()].map(quoteString).join(', ')})`,
      { action: 'looking for the backup\'s sequences' },
    )
    const found = new Map(rows.map((r) => [String(r.name), String(r.type)]))
    const warnings: string[] = []
    for (const sequence of wanted.values()) {
      const type = found.get(sequence.name)
      if (type === 'SEQUENCE') {
        this.#pendingSequences.push(sequence)
      } else if (type !== undefined) {
        throw new UsageError(`The backup's sequence ${sequence.name} cannot be created: database ${this.#session.config.database} has a ${type.toLowerCase()} of that name. Nothing was changed.`, { code: 'SEQUENCES' })
      } else if (mode === 'restore') {
        const name = quoteIdentifier(sequence.name)
        const context = { action: `creating sequence ${sequence.name}` }
        await this.#run(
          `CREATE SEQUENCE ${name} START WITH ${sequence.start} MINVALUE ${sequence.minValue} MAXVALUE ${sequence.maxValue} ` +
            `INCREMENT BY ${sequence.increment} CACHE ${sequence.cache} ${sequence.cycle ? 'CYCLE' : 'NOCYCLE'}`,
          context,
        )
        this.#createdSequences.push(sequence.name)
        await this.#run(`SELECT SETVAL(${name}, ${sequence.next}, 0, ${sequence.round})`, context)
      } else {
        warnings.push(`Sequence ${sequence.name} of the backup does not exist in database ${this.#session.config.database}: a ${mode} creates nothing, so it is left out.`)
      }
    }
    return warnings
  }

  /** The triggers defined on these tables of the target database. */
  async #userTriggers(tables: readonly string[]): Promise<{ name: string; table: string; timing: string; event: string }[]> {
    if (tables.length === 0) return []
    try {
      const [rows] = await this.#session.connection.query<RowDataPacket[]>(
        `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS \`table\`, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event
           FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE IN (?)
          ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER`,
        [tables],
      )
      return rows as { name: string; table: string; timing: string; event: string }[]
    } catch (error) {
      throw toStatementError(error, { action: 'reading the triggers' })
    }
  }

  /**
   * `drop` empties the selected tables only. With foreign key checks off a DELETE would not
   * complain about rows of an unselected table that reference an emptied one, so this looks
   * first and refuses (as PostgreSQL's TRUNCATE without CASCADE does), before anything changes.
   */
  async #checkDropAllowed(backupSchema: DatabaseSchema, target: DatabaseSchema): Promise<void> {
    const selected = new Set(backupSchema.tables.map((t) => t.name))
    for (const child of target.tables) {
      if (selected.has(child.name)) continue
      for (const fk of child.foreignKeys) {
        if (!selected.has(fk.referencedTable) || fk.referencedTable === child.name) continue
        const notNull = fk.columns.map((c) => `${quoteIdentifier(c)} IS NOT NULL`).join(' AND ')
        const rows = await this.#run<RowDataPacket[]>(`SELECT 1 AS present FROM ${quoteIdentifier(child.name)} WHERE ${notNull} LIMIT 1`, { table: child.name })
        if (rows.length > 0) {
          throw new UsageError(
            `Cannot empty "${fk.referencedTable}": table "${child.name}", which is not selected, has rows referencing it (foreign key ${fk.name}). Select "${child.name}" too, or restore without drop.`,
            { code: 'DROP_REFERENCED', details: { table: fk.referencedTable, referencedBy: child.name, constraint: fk.name } },
          )
        }
      }
    }
  }

  /** Creates one table under its staging name; records it at once so that rollback() can drop it. Returns warnings. */
  async #createTable(
    table: TableSchema,
    sourceEngine: DatabaseSchema['engine'],
    staging: StagingSet,
    context: { readonly tables: readonly TableSchema[]; readonly usedNames: Set<string> },
  ): Promise<string[]> {
    const first = createTableStatement(table, sourceEngine, true, context)
    try {
      await this.#run(staging.createStatement(table.name, first.sql), { table: table.name, action: `creating table ${table.name}` })
      this.#created.push(staging.sqlName(table.name))
      return [...first.warnings]
    } catch (error) {
      if (sourceEngine !== 'mysql' || typeof table.options?.definition !== 'string') throw error
      // A definition from another server version (a MySQL 8 collation on MariaDB, say): build
      // the table from its columns instead.
      const fallback = createTableStatement(table, sourceEngine, false, context)
      await this.#run(staging.createStatement(table.name, fallback.sql), { table: table.name, action: `creating table ${table.name}` })
      this.#created.push(staging.sqlName(table.name))
      return [`${table.name}: the server rejected the backed-up definition (${(error as Error).message}); created from the column types instead.`, ...fallback.warnings]
    }
  }

  async writeRows(table: TableSchema, batches: AsyncIterable<Row[]>): Promise<WriteResult> {
    return this.#write(table, batches)
  }

  /**
   * Whether the reader may convert this table's record lines to LOAD DATA text in the walk that
   * checks them (lineConverter; mysql-load-lines.ts): a table this restore created (empty: a
   * skipped duplicate fails the restore, so no row is needed to count collation skips) with a
   * primary key and no generated column, every session with LOCAL INFILE, and columns whose
   * values lineToLoad rewrites byte for byte.
   * Not a chain's records: loaded as lines, a scale-20 chain cost mariadbd about 15 s more CPU than
   * the same rows loaded from one file (cause not found); as rows (writeRows, merged by key) it
   * costs what one file costs (docs/performance.md, "Round thirteen: quiet-machine figures").
   */
  async acceptsRecordLines(table: TableSchema, from?: { readonly chain: boolean }): Promise<boolean> {
    if (from?.chain === true) return false
    if (this.#staging?.stagedName(table.name) === undefined || ![this.#session, ...this.#loaders].every((s) => s.localInfile)) return false
    const target = await this.#targetTable(table.name)
    if (target.primaryKey.length === 0 || target.columns.some((c) => c.generated)) return false
    const kinds = new Map(table.columns.map((c) => [c.name, c.kind]))
    const plan = loadLinePlan(this.#writeColumns(table, target).map((c) => ({ name: c.name, kind: kinds.get(c.name)!, target: c.target })))
    if (plan === undefined) return false
    this.#linePlans.set(table.name, plan)
    return true
  }

  lineConverter(table: TableSchema): LineConverter | undefined {
    const plan = this.#linePlans.get(table.name)
    return plan === undefined ? undefined : loadLineConverter(plan)
  }

  /**
   * writeRows for a table acceptsRecordLines took. `converted`: LOAD DATA lines from its
   * lineConverter, among them record lines it passed on (marked, loadLineConverter), which
   * take writeRows' way; else the record lines themselves (a chain's), parsed.
   */
  async writeRecordLines(table: TableSchema, chunks: AsyncIterable<Buffer>, converted = false): Promise<WriteResult> {
    return this.#write(table, converted ? chunks : parsedLines(chunks))
  }

  /** writeRows, for batches of rows or chunks of LOAD DATA lines (writeRecordLines). */
  async #write(table: TableSchema, batches: AsyncIterable<Row[] | Buffer>): Promise<WriteResult> {
    this.#assertOpen()
    await this.#begin()
    const target = await this.#targetTable(table.name)
    const columns = this.#writeColumns(table, target)
    const keyColumns = identityKey(target)
    let result: WriteResult
    try {
      if (keyColumns) result = await this.#writeByKey(target, columns, keyColumns, batches)
      else {
        const [nonEmpty] = await this.#run<RowDataPacket[]>(`SELECT 1 AS present FROM ${this.#q(target.name)} LIMIT 1`, { table: target.name })
        // (Keyless tables never get LOAD DATA lines: acceptsRecordLines.)
        result = nonEmpty === undefined ? await this.#writeByKey(target, columns, undefined, batches) : await this.#writeByRowIdentity(target, columns, batches as AsyncIterable<Row[]>)
      }
    } catch (error) {
      // Some rows may be in (the caller rolls back); finish() must not skip this table.
      this.#written.add(target.name)
      throw error
    }
    // Only new rows can break a foreign key.
    if (result.inserted > 0) this.#written.add(target.name)
    return result
  }

  /** The backup's columns as written to `target`: generated target columns are never written. */
  #writeColumns(table: TableSchema, target: TableSchema): WriteColumn[] {
    const targetColumns = new Map(target.columns.map((c) => [c.name, c]))
    const columns: WriteColumn[] = []
    for (const column of table.columns) {
      const targetColumn = targetColumns.get(column.name)
      if (!targetColumn) {
        throw new UsageError(`Table "${target.name}" has no column "${column.name}", which the backup has: writing would lose its values.`, {
          code: 'SCHEMA_MISMATCH',
        })
      }
      if (targetColumn.generated) continue
      const sourceKind: ValueKind = column.kind
      columns.push({ name: column.name, target: targetColumn, writer: valueWriter(targetColumn, sourceKind) })
    }
    return columns
  }

  /** `(lit, lit, …)` for one row; a field the row lacks gets the column's DEFAULT. */
  #tuple(target: TableSchema, columns: readonly WriteColumn[], row: Row, keyColumns: readonly string[] | undefined): string {
    let known = 0
    const parts: string[] = []
    for (const column of columns) {
      const value = row[column.name]
      if (value === undefined) {
        parts.push('DEFAULT')
        continue
      }
      known++
      try {
        parts.push(column.writer.literal(value))
      } catch (error) {
        throw withRowContext(error, target.name, rowKey(row, keyColumns ?? target.primaryKey))
      }
    }
    if (known < Object.keys(row).length) checkFields(target, columns, row, keyColumns ?? target.primaryKey)
    return `(${parts.join(', ')})`
  }

  #statementLimit(): number {
    return Math.max(64 * 1024, Math.min(MAX_STATEMENT_BYTES, this.#session.maxAllowedPacket - 64 * 1024))
  }

  /**
   * Rows that carry every column go through LOAD DATA LOCAL INFILE (LoadChannel); rows that
   * leave a column out (hand-made files: the column gets its DEFAULT) and every row when the
   * server refuses LOCAL INFILE go through multi-row INSERT statements (InsertChannel). Both skip and count rows whose key exists (LOAD DATA
   * LOCAL skips duplicates by itself; INSERT says `ON DUPLICATE KEY UPDATE k = k`); without a key
   * (an empty keyless table) every row is inserted, except that a nullable UNIQUE key still skips
   * its duplicates.
   * The two never have a statement on the connection at the same time.
   *
   * With loading sessions (a staging table, #loaders), each session is a lane with its own two
   * channels, and the batches go to whichever lane asks first (SharedSource): the server loads the
   * table on every session at once. A lane that fails stops the others at their next batch, and
   * this returns only once every lane has settled, so that nothing is left running when the caller
   * rolls back (which drops the staging tables).
   */
  async #writeByKey(target: TableSchema, columns: readonly WriteColumn[], keyColumns: readonly string[] | undefined, batches: AsyncIterable<Row[] | Buffer>): Promise<WriteResult> {
    const counts = { inserted: 0, skipped: 0, skippedByCollation: 0 }
    // A LOAD DATA into a table with an AUTO_INCREMENT column holds InnoDB's table-level AUTO-INC
    // lock to its end (innodb_autoinc_lock_mode 1, the default), even with every id given: the
    // sessions would only take turns (and one could time out waiting). Multi-row INSERTs, which
    // take a short mutex instead, made such a table 5 times slower to load (docs/performance.md).
    const shared =
      this.#loaders.length > 0 && this.#staging?.stagedName(target.name) !== undefined && !target.columns.some((c) => c.autoIncrement)
    if (!shared) await this.#loadLane(this.#session, target, columns, keyColumns, batches, counts)
    else {
      const source = new SharedSource(batches)
      const lanes = [this.#session, ...this.#loaders].map(async (session) => {
        try {
          await this.#loadLane(session, target, columns, keyColumns, source.reader(), counts)
        } catch (error) {
          source.fail(source.stopped)
          throw error
        }
      })
      const results = await Promise.allSettled(lanes)
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason !== source.stopped)
      if (failed !== undefined) throw failed.reason
      if (source.failure !== undefined) throw source.failure.error
    }
    return counts.skippedByCollation > 0 ? counts : { inserted: counts.inserted, skipped: counts.skipped }
  }

  /** One session's share of #writeByKey: its rows through LOAD DATA, or INSERT statements for rows that leave a column out. */
  async #loadLane(
    session: MysqlSession,
    target: TableSchema,
    columns: readonly WriteColumn[],
    keyColumns: readonly string[] | undefined,
    batches: AsyncIterable<Row[] | Buffer>,
    counts: { inserted: number; skipped: number; skippedByCollation: number },
  ): Promise<void> {
    const conflictColumn = keyColumns?.[0] ?? target.uniqueConstraints[0]?.columns[0]
    const sqlName = this.#q(target.name)
    const collationKey = this.#collationKey(target, keyColumns)
    const context: ChannelContext = {
      session,
      target,
      sqlName,
      columns,
      keyColumns: keyColumns ?? target.primaryKey,
      onDuplicate: conflictColumn
        ? ` ON DUPLICATE KEY UPDATE ${sqlName}.${quoteIdentifier(conflictColumn)} = ${sqlName}.${quoteIdentifier(conflictColumn)}`
        : '',
      counts,
      tuple: (row) => this.#tuple(target, columns, row, keyColumns),
      checkRowSize: (row, bytes) => this.#checkRowSize(target, row, keyColumns, bytes),
      countCollationSkips: collationKey && ((rows) => this.#countCollationSkips(session, sqlName, collationKey, rows, counts)),
      insert: (statement) => this.#insert(target, statement, keyColumns, session),
      probe: (rows) =>
        this.#probeFailingRow(session, {
          head: `INSERT INTO ${sqlName} (${columns.map((c) => quoteIdentifier(c.name)).join(', ')}) VALUES `,
          tuples: rows.map((row) => this.#tuple(target, columns, row, keyColumns)),
          tail: context.onDuplicate,
          rows,
        }),
    }
    const inserts = new InsertChannel(context, this.#statementLimit())
    const loads = session.localInfile ? new LoadChannel(context) : undefined
    const add = async (row: Row): Promise<void> => {
      if (loads && columns.every((c) => row[c.name] !== undefined)) {
        await inserts.settle()
        await loads.add(row)
      } else {
        await loads?.close()
        await inserts.add(row)
      }
    }
    try {
      for await (const batch of batches) {
        if (!Buffer.isBuffer(batch)) {
          for (const row of batch) await add(row)
          continue
        }
        // LOAD DATA lines (writeRecordLines): each ends at its newline (one inside a value is escaped).
        let settled = false
        for (let start = 0; start < batch.length; ) {
          const end = batch.indexOf(LF, start) + 1
          if (batch[start] === PASSED_ON) {
            await add(JSON.parse(batch.toString('utf8', start + 1, end - 1)) as Row)
            settled = false
          } else {
            if (!settled) await inserts.settle()
            settled = true
            await loads!.addEncoded(batch, start, end)
          }
          start = end
        }
      }
      await loads?.close()
      await inserts.finish()
    } catch (error) {
      // Nothing of ours may still be on the wire when the caller rolls back.
      await loads?.abort()
      await inserts.abort()
      throw error
    }
  }

  /**
   * The key columns whose collation may call two different strings equal ('a' = 'A' under a _ci
   * collation, 'b' = 'b ' under PAD SPACE, which every utf8mb4 collation is): a key made only
   * of text columns. Keys with a number or date part are left out (their values compare as the
   * backup's JSON does, and reading them back would need each type's spelling).
   */
  #collationKey(target: TableSchema, keyColumns: readonly string[] | undefined): readonly ColumnSchema[] | undefined {
    const names = keyColumns ?? target.primaryKey
    const columns = names.map((name) => target.columns.find((c) => c.name === name))
    if (columns.length === 0 || columns.some((c) => c === undefined || c.kind !== 'text')) return undefined
    return columns as ColumnSchema[]
  }

  /**
   * Of `rows` (a statement or load that skipped some), counts those no row of the table holds
   * byte for byte: their key met an existing row's only under the collation, and the existing row
   * was kept (docs/adapters-mysql.md, "Keys equal under the collation"). One SELECT of the rows'
   * keys, which also finds the rows just inserted (their own keys, exact).
   */
  async #countCollationSkips(session: MysqlSession, sqlName: string, key: readonly ColumnSchema[], rows: readonly Row[], counts: { skippedByCollation: number }): Promise<void> {
    // CHAR drops trailing blanks when it stores a value: 'b ' and 'b' are one stored value there.
    const spelling = (column: ColumnSchema, value: unknown): string => (/^char\b/i.test(column.type) ? String(value).replace(/ +$/, '') : String(value))
    const keyText = (row: Record<string, unknown>): string => JSON.stringify(key.map((c) => spelling(c, row[c.name])))
    const names = key.map((c) => quoteIdentifier(c.name)).join(', ')
    // A key with a NULL part never meets another row (SQL NULLs are distinct).
    const keyed = rows.filter((row) => key.every((c) => typeof row[c.name] === 'string'))
    if (keyed.length === 0) return
    for (let at = 0; at < keyed.length; at += COLLATION_CHECK_ROWS) {
      const some = keyed.slice(at, at + COLLATION_CHECK_ROWS)
      const tuples = some.map((row) => `(${key.map((c) => quoteString(row[c.name] as string)).join(', ')})`)
      const [found] = await session.connection.query<RowDataPacket[]>(`SELECT ${names} FROM ${sqlName} WHERE (${names}) IN (${tuples.join(', ')})`)
      const held = new Set(found.map((row) => keyText(row)))
      for (const row of some) if (!held.has(keyText(row))) counts.skippedByCollation++
    }
  }

  #checkRowSize(target: TableSchema, row: Row, keyColumns: readonly string[] | undefined, bytes: number): void {
    if (bytes <= this.#session.maxAllowedPacket - 1024) return
    throw new DatabaseError(
      `A row of "${target.name}" needs a ${bytes}-byte statement, more than the server's max_allowed_packet (${this.#session.maxAllowedPacket} bytes): raise max_allowed_packet on the server.`,
      { engineCode: '1153', table: target.name, key: rowKey(row, keyColumns ?? target.primaryKey) },
    )
  }

  /** Runs a multi-row INSERT, naming the offending row (the server's "at row N", else a probe). */
  async #insert(target: TableSchema, statement: InsertStatement, keyColumns: readonly string[] | undefined, session = this.#session): Promise<ResultSetHeader> {
    const { rows } = statement
    try {
      const [result] = await session.connection.query<ResultSetHeader>(statement.head + statement.tuples.join(',') + statement.tail)
      return result
    } catch (error) {
      const at = rowNumberFromMessage(error)
      const usable = isDriverError(error) && error.errno !== undefined && !error.fatal
      const row = at !== undefined ? rows[at - 1] : usable ? await this.#probeFailingRow(session, statement) : undefined
      throw toStatementError(error, {
        table: target.name,
        key: row ? rowKey(row, keyColumns ?? target.primaryKey) : undefined,
        action: `inserting into ${target.name}`,
      })
    }
  }

  /**
   * Which row of a failed multi-row INSERT the server refused, when its message does not say
   * ("Column 'name' cannot be null" has no "at row N"). Only runs on the way to an error: the
   * rows are tried one by one behind a savepoint, which is then rolled back, so the transaction
   * is as the failed statement left it. Undefined when no single row fails alone.
   */
  async #probeFailingRow(session: MysqlSession, statement: InsertStatement): Promise<Row | undefined> {
    const { head, tuples, tail, rows } = statement
    if (rows.length <= 1) return rows[0]
    const connection = session.connection
    try {
      await connection.query('SAVEPOINT mergeback_probe')
      for (let i = 0; i < rows.length; i++) {
        try {
          await connection.query(head + tuples[i] + tail)
        } catch {
          return rows[i]
        }
      }
      return undefined
    } catch {
      return undefined
    } finally {
      await connection.query('ROLLBACK TO SAVEPOINT mergeback_probe').catch(() => undefined)
    }
  }

  /**
   * Keyless table that already has rows: a backup row is skipped when an identical row is there,
   * counting duplicates (2 identical backup rows and 1 in the table → 1 inserted, 1 skipped).
   *
   * 1. `credit`: per row hash, how many identical rows the table held before this call.
   * 2. Per batch: load into `stage` (same column types as the table, plus a sequence number),
   *    insert the rows whose rank among identical staged rows exceeds the remaining credit,
   *    then spend the credit.
   * The hash is SHA-256 over each column's exact text (hex for strings and bytes, CAST AS CHAR
   * for numbers and times, FLOAT widened to DOUBLE first), NULL encoded apart from any value.
   */
  async #writeByRowIdentity(target: TableSchema, columns: readonly WriteColumn[], batches: AsyncIterable<Row[]>): Promise<WriteResult> {
    const table = this.#q(target.name)
    const stage = quoteIdentifier(this.#temporaryName('stage'))
    const credit = quoteIdentifier(this.#temporaryName('credit'))
    const names = columns.map((c) => quoteIdentifier(c.name)).join(', ')
    const hash = (qualifier: string): string => rowHashExpression(columns.map((c) => c.target), qualifier)
    const conflictColumn = target.uniqueConstraints[0]?.columns[0]
    const onDuplicate = conflictColumn ? ` ON DUPLICATE KEY UPDATE ${quoteIdentifier(conflictColumn)} = ${table}.${quoteIdentifier(conflictColumn)}` : ''
    const context = { table: target.name, action: `inserting into ${target.name}` }
    await this.#run(`CREATE TEMPORARY TABLE ${stage} (mergeback_seq BIGINT NOT NULL DEFAULT 0) SELECT ${names} FROM ${table} LIMIT 0`, context)
    try {
      await this.#run(`CREATE TEMPORARY TABLE ${credit} (h BINARY(32) NOT NULL PRIMARY KEY, n BIGINT NOT NULL)`, context)
      await this.#run(`INSERT INTO ${credit} (h, n) SELECT ${hash('t')}, COUNT(*) FROM ${table} t GROUP BY 1`, context)
      const head = `INSERT INTO ${stage} (mergeback_seq, ${names}) VALUES `
      const limit = this.#statementLimit()
      let inserted = 0
      let skipped = 0
      let seq = 0
      let tuples: string[] = []
      let rows: Row[] = []
      let bytes = 0
      const flush = async (): Promise<void> => {
        if (tuples.length === 0) return
        await this.#insert(target, { head, tuples, tail: '', rows }, undefined)
        const result = await this.#run<ResultSetHeader>(
          `INSERT INTO ${table} (${names})
           SELECT ${names} FROM (
             SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.mergeback_h ORDER BY s.mergeback_seq) AS mergeback_rank
               FROM (SELECT ${columns.map((c) => `x.${quoteIdentifier(c.name)}`).join(', ')}, x.mergeback_seq, ${hash('x')} AS mergeback_h FROM ${stage} x) s
           ) r LEFT JOIN ${credit} c ON c.h = r.mergeback_h
           WHERE r.mergeback_rank > COALESCE(c.n, 0)${onDuplicate}`,
          context,
        )
        await this.#run(
          `UPDATE ${credit} c JOIN (SELECT ${hash('x')} AS h, COUNT(*) AS k FROM ${stage} x GROUP BY 1) b ON c.h = b.h SET c.n = GREATEST(c.n - b.k, 0)`,
          context,
        )
        await this.#run(`DELETE FROM ${stage}`, context)
        inserted += result.affectedRows
        skipped += rows.length - result.affectedRows
        tuples = []
        rows = []
        bytes = 0
      }
      for await (const batch of batches) {
        for (const row of batch) {
          const tuple = `(${++seq}, ${this.#tuple(target, columns, row, undefined).slice(1)}`
          const size = Buffer.byteLength(tuple) + 1
          if (bytes + size + head.length > limit) await flush()
          this.#checkRowSize(target, row, undefined, size + head.length)
          tuples.push(tuple)
          rows.push(row)
          bytes += size
        }
      }
      await flush()
      return { inserted, skipped }
    } finally {
      await this.#run(`DROP TEMPORARY TABLE IF EXISTS ${stage}, ${credit}`, context)
    }
  }

  async readByKeys(tableName: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<Row[]> {
    this.#assertOpen()
    await this.#begin()
    const target = await this.#targetTable(tableName)
    const keyTargets = keyColumns.map((name) => columnOf(target, name))
    const columns = target.columns
    const encoders: Encoder[] = columns.map((c) => encoderFor(c))
    const select = `SELECT ${columns.map((c) => selectExpression(c)).join(', ')} FROM ${this.#q(target.name)} WHERE `
    const keyList = keyColumns.length === 1 ? quoteIdentifier(keyColumns[0]) : `(${keyColumns.map(quoteIdentifier).join(', ')})`
    const out: Row[] = []
    for (let start = 0; start < keys.length; start += KEYS_PER_QUERY) {
      const chunk = keys.slice(start, start + KEYS_PER_QUERY)
      const literals: string[] = []
      for (const key of chunk) {
        // A NULL never equals anything in SQL: such a key matches no row.
        if (keyColumns.some((name) => key[name] === null || key[name] === undefined)) continue
        try {
          const parts = keyTargets.map((column) => sqlLiteral(column, key[column.name]))
          literals.push(parts.length === 1 ? parts[0] : `(${parts.join(', ')})`)
        } catch (error) {
          throw withRowContext(error, target.name, key)
        }
      }
      if (literals.length === 0) continue
      const [rows] = await this.#query(`${select}${keyList} IN (${literals.join(', ')})`, { table: target.name, action: `reading ${target.name} by key` }, columns)
      for (const values of rows) {
        const row: Row = {}
        for (let i = 0; i < columns.length; i++) row[columns[i].name] = encoders[i](values[i])
        out.push(row)
      }
    }
    return out
  }

  /** A SELECT whose rows come back as arrays; `columns` tells whether geometry needs its raw bytes. */
  async #query(sql: string, context: StatementContext, columns: readonly ColumnSchema[] = [], session = this.#session): Promise<[unknown[][]]> {
    try {
      const typeCast = hasGeometry(columns) ? { typeCast: rawGeometryTypeCast } : {}
      const [rows] = await session.connection.query<RowDataPacket[][]>({ sql, rowsAsArray: true, ...typeCast })
      return [rows as unknown[][]]
    } catch (error) {
      throw toStatementError(error, context)
    }
  }

  async updateRows(tableName: string, keyColumns: readonly string[], rows: readonly Row[]): Promise<number> {
    this.#assertOpen()
    await this.#begin()
    if (rows.length === 0) return 0
    const target = await this.#targetTable(tableName)
    if (keyColumns.length === 0) throw new UsageError(`updateRows on "${tableName}" needs key columns.`, { code: 'NO_KEY' })
    for (const name of keyColumns) columnOf(target, name)
    // Rows may carry different column sets: one set-wise UPDATE per set.
    const groups = new Map<string, { columns: string[]; rows: Row[] }>()
    for (const row of rows) {
      const columns = Object.keys(row).filter((name) => !keyColumns.includes(name) && !columnOf(target, name).generated)
      const signature = columns.join('\0')
      const group = groups.get(signature)
      if (group) group.rows.push(row)
      else groups.set(signature, { columns, rows: [row] })
    }
    let matched = 0
    for (const group of groups.values()) {
      if (group.columns.length === 0) continue
      for (let start = 0; start < group.rows.length; start += KEYS_PER_QUERY) {
        matched += await this.#updateChunk(target, keyColumns, group.columns, group.rows.slice(start, start + KEYS_PER_QUERY))
      }
    }
    // An update can only break a foreign key through the columns it sets: the table's own
    // foreign key columns, or columns other tables' foreign keys reference.
    const set = new Set([...groups.values()].flatMap((g) => g.columns))
    if (target.foreignKeys.some((fk) => fk.columns.some((c) => set.has(c)))) this.#written.add(target.name)
    const schema = await this.#targetSchema()
    const referenced = schema.tables.flatMap((t) => t.foreignKeys.filter((fk) => fk.referencedTable === target.name).flatMap((fk) => fk.referencedColumns))
    if (referenced.some((c) => set.has(c))) this.#referencedChanged.add(target.name)
    return matched
  }

  /** One set-wise UPDATE through a temporary table holding the new values in the target's types. */
  async #updateChunk(target: TableSchema, keyColumns: readonly string[], columns: readonly string[], rows: readonly Row[]): Promise<number> {
    const table = this.#q(target.name)
    const staging = quoteIdentifier(this.#temporaryName('update'))
    const all = [...keyColumns, ...columns]
    const targets = all.map((name) => columnOf(target, name))
    const context = { table: target.name, action: `updating ${target.name}` }
    await this.#run(`CREATE TEMPORARY TABLE ${staging} SELECT ${all.map(quoteIdentifier).join(', ')} FROM ${table} LIMIT 0`, context)
    try {
      const tuples = rows.map((row) => {
        try {
          return `(${targets.map((column) => sqlLiteral(column, row[column.name])).join(', ')})`
        } catch (error) {
          throw withRowContext(error, target.name, rowKey(row, keyColumns))
        }
      })
      await this.#insert(target, { head: `INSERT INTO ${staging} (${all.map(quoteIdentifier).join(', ')}) VALUES `, tuples, tail: '', rows }, keyColumns)
      const on = keyColumns.map((k) => `t.${quoteIdentifier(k)} <=> u.${quoteIdentifier(k)}`).join(' AND ')
      const set = columns.map((c) => `t.${quoteIdentifier(c)} = u.${quoteIdentifier(c)}`).join(', ')
      const result = await this.#run<ResultSetHeader>(`UPDATE ${table} t JOIN ${staging} u ON ${on} SET ${set}`, context)
      // Without FOUND_ROWS, affectedRows counts only rows whose values changed; "Rows matched"
      // counts every row the update reached, which is what the caller asked to set.
      const matched = /Rows matched: (\d+)/.exec(result.info ?? '')?.[1]
      return matched !== undefined ? Number(matched) : result.affectedRows
    } finally {
      await this.#run(`DROP TEMPORARY TABLE IF EXISTS ${staging}`, context)
    }
  }

  /** Three-way merge with --apply-deletions: deletes the records with these keys; returns how many were deleted. */
  async deleteRows(tableName: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<number> {
    this.#assertOpen()
    await this.#begin()
    if (keys.length === 0) return 0
    const target = await this.#targetTable(tableName)
    if (keyColumns.length === 0) throw new UsageError(`deleteRows on "${tableName}" needs key columns.`, { code: 'NO_KEY' })
    const keyTargets = keyColumns.map((name) => columnOf(target, name))
    const keyList = keyColumns.length === 1 ? quoteIdentifier(keyColumns[0]) : `(${keyColumns.map(quoteIdentifier).join(', ')})`
    let deleted = 0
    for (let start = 0; start < keys.length; start += KEYS_PER_QUERY) {
      const literals: string[] = []
      for (const key of keys.slice(start, start + KEYS_PER_QUERY)) {
        if (keyColumns.some((name) => key[name] === null || key[name] === undefined)) continue
        try {
          const parts = keyTargets.map((column) => sqlLiteral(column, key[column.name]))
          literals.push(parts.length === 1 ? parts[0] : `(${parts.join(', ')})`)
        } catch (error) {
          throw withRowContext(error, target.name, key)
        }
      }
      if (literals.length === 0) continue
      const result = await this.#run<ResultSetHeader>(`DELETE FROM ${quoteIdentifier(target.name)} WHERE ${keyList} IN (${literals.join(', ')})`, {
        table: target.name,
        action: `deleting from ${target.name}`,
      })
      deleted += result.affectedRows
    }
    // Rows other tables reference may be gone: their foreign keys are checked in finish().
    this.#referencedChanged.add(target.name)
    return deleted
  }

  async countRows(tableName: string): Promise<number> {
    this.#assertOpen()
    await this.#begin()
    const target = await this.#targetTable(tableName)
    const rows = await this.#run<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${this.#q(target.name)}`, { table: target.name })
    return Number(rows[0].n)
  }

  async finish(): Promise<void> {
    this.#assertOpen()
    this.#schema = undefined
    const schema = await this.#targetSchema()
    const byName = new Map(schema.tables.map((t) => [t.name, t]))
    const checks = schema.tables.flatMap((table) =>
      table.foreignKeys.filter((fk) => this.#written.has(table.name) || this.#referencedChanged.has(fk.referencedTable)).map((fk) => ({ table, fk })),
    )
    // With loading sessions every row written is committed in a staging table (and no
    // transaction is open yet): each session takes the next check, so that they run side by side.
    const sessions = [this.#session, ...this.#loaders]
    let next = 0
    let failed = false
    const check = async (session: MysqlSession): Promise<void> => {
      while (next < checks.length && !failed) {
        const { table, fk } = checks[next++]
        try {
          await this.#checkForeignKey(table, fk, byName.get(fk.referencedTable), session)
        } catch (error) {
          failed = true
          throw error
        }
      }
    }
    const results = await Promise.allSettled(sessions.map(check))
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failure !== undefined) throw failure.reason
    await this.#endLoaders()
    await this.#begin()
    this.#pendingAutoIncrement = []
    for (const name of this.#written) {
      const table = byName.get(name)
      const column = table?.columns.find((c) => c.autoIncrement)
      if (!table || !column) continue
      const [row] = await this.#run<RowDataPacket[]>(
        `SELECT (SELECT MAX(${quoteIdentifier(column.name)}) FROM ${this.#q(name)}) AS maxId,
                (SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${quoteString(this.#staging?.sqlName(name) ?? name)}) AS counter`,
        { table: name, action: `reading the AUTO_INCREMENT counter of ${name}` },
      )
      if (row.maxId === null || row.counter === null) continue
      const next = BigInt(String(row.maxId)) + 1n
      if (BigInt(String(row.counter)) < next) this.#pendingAutoIncrement.push({ table: name, next: next.toString() })
    }
  }

  /**
   * One anti-join: the first row of `table` whose non-NULL foreign key finds no parent row. The
   * child is scanned in its clustered (primary key) order and the parent probed by its primary
   * key when the foreign key references it: inside the write transaction, a secondary-index plan
   * makes InnoDB visit the clustered record of every entry to check visibility (measured 54 s
   * instead of 15 s for five foreign keys over 1 M rows).
   */
  async #checkForeignKey(table: TableSchema, fk: TableSchema['foreignKeys'][number], parent: TableSchema | undefined, session: MysqlSession): Promise<void> {
    if (!parent) {
      throw new DatabaseError(`Foreign key ${fk.name} on table ${table.name} references table ${fk.referencedTable}, which does not exist.`, {
        engineCode: '1452',
        table: table.name,
        constraint: fk.name,
        details: { sqlState: '23000' },
      })
    }
    const shown = table.primaryKey.length > 0 ? table.primaryKey : fk.columns
    const shownColumns = shown.map((name) => columnOf(table, name))
    const notNull = fk.columns.map((c) => `c.${quoteIdentifier(c)} IS NOT NULL`).join(' AND ')
    const join = fk.columns.map((c, i) => `p.${quoteIdentifier(fk.referencedColumns[i])} = c.${quoteIdentifier(c)}`).join(' AND ')
    const reference = fk.columns.map((c) => columnOf(table, c))
    const [rows] = await this.#query(
      `SELECT ${[...shownColumns, ...reference].map((c) => valueExpression(c, 'c')).join(', ')}
         FROM ${this.#q(table.name)} c${table.primaryKey.length > 0 ? ' FORCE INDEX (PRIMARY)' : ''}
        WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${this.#q(parent.name)} p${parent.primaryKey.join() === fk.referencedColumns.join() ? ' FORCE INDEX (PRIMARY)' : ''} WHERE ${join}) LIMIT 1`,
      { table: table.name, constraint: fk.name, action: `checking foreign key ${fk.name} of ${table.name}` },
      [...shownColumns, ...reference],
      session,
    )
    if (rows.length === 0) return
    const values = rows[0]
    const key: Row = {}
    shownColumns.forEach((column, i) => {
      key[column.name] = encoderFor(column)(values[i])
    })
    const referenced = reference.map((column, i) => `${fk.referencedColumns[i]} = ${JSON.stringify(encoderFor(column)(values[shownColumns.length + i]))}`).join(', ')
    throw new DatabaseError(
      `Foreign key ${fk.name} on table ${table.name}: the row with key ${JSON.stringify(key)} references ${fk.referencedTable} (${referenced}), which does not exist.`,
      { engineCode: '1452', table: table.name, key, constraint: fk.name, details: { sqlState: '23000', referencedTable: fk.referencedTable } },
    )
  }

  async commit(): Promise<void> {
    this.#assertOpen()
    await this.#endLoaders()
    const staging = this.#staging
    try {
      if (staging) {
        // The RENAME commits first and only then finds a name taken (a table created by someone
        // else during the restore): look before, while a failure still rolls everything back.
        const taken = await this.#run<RowDataPacket[]>(
          `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${staging.realNames().map(quoteString).join(', ')})`,
          { action: 'checking the names of the new tables' },
        )
        if (taken.length > 0) {
          throw new DatabaseError(
            `Table ${taken.map((r) => String(r.name)).join(', ')} was created by someone else during this restore; nothing was changed.`,
            { table: String(taken[0]?.name), details: { tables: taken.map((r) => String(r.name)) } },
          )
        }
        // One statement: MySQL commits the transaction implicitly, then swaps every staging
        // table in. Once the server has it, it completes even if this process dies.
        await this.#run(staging.renameStatement(), { action: 'swapping the new tables in (RENAME TABLE, which commits)' })
        this.#staging = undefined
        this.#created.length = 0
        await this.#run(`DO RELEASE_LOCK(${quoteString(runLockName(staging.runId))})`).catch(() => undefined)
      } else {
        await this.#run('COMMIT', { action: 'committing' })
      }
      this.#inTransaction = false
      this.#state = 'committed'
    } finally {
      await this.#restoreForeignKeyChecks()
    }
    // ALTER TABLE commits implicitly, so it can only run once the data is committed.
    for (const { table, next } of this.#pendingAutoIncrement) {
      try {
        await this.#run(`ALTER TABLE ${quoteIdentifier(table)} AUTO_INCREMENT = ${next}`)
      } catch (error) {
        throw new DatabaseError(
          `The data was committed, but the AUTO_INCREMENT counter of ${table} could not be moved to ${next}: ${(error as Error).message}. Run: ALTER TABLE ${quoteIdentifier(table)} AUTO_INCREMENT = ${next}`,
          { cause: error, table },
        )
      }
    }
    this.#pendingAutoIncrement = []
    this.#createdSequences.length = 0
    // SETVAL ignores a position behind the sequence's own: this only ever moves it forward.
    for (const sequence of this.#pendingSequences) {
      const statement = `SELECT SETVAL(${quoteIdentifier(sequence.name)}, ${sequence.next}, 0, ${sequence.round})`
      try {
        await this.#run(statement)
      } catch (error) {
        throw new DatabaseError(`The data was committed, but sequence ${sequence.name} could not be moved to ${sequence.next}: ${(error as Error).message}. Run: ${statement}`, { cause: error })
      }
    }
    this.#pendingSequences = []
  }

  async rollback(cause?: unknown): Promise<void> {
    if (this.#state !== 'open') return
    this.#state = 'rolled-back'
    let usable = true
    try {
      await this.#session.connection.query('ROLLBACK')
    } catch {
      // A broken connection rolls back on the server when it closes.
      usable = false
    }
    this.#inTransaction = false
    await this.#endLoaders()
    try {
      if (this.#created.length > 0) await this.#dropCreatedTables(usable, cause)
      if (this.#createdSequences.length > 0) await this.#dropCreatedSequences(usable, cause)
    } finally {
      if (usable) await this.#restoreForeignKeyChecks()
    }
  }

  /** MySQL DDL is not transactional: undo prepare()'s CREATE TABLEs by hand. */
  async #dropCreatedTables(usable: boolean, cause: unknown): Promise<void> {
    const sql = `DROP TABLE IF EXISTS ${this.#created.map(quoteIdentifier).join(', ')}`
    try {
      if (usable) await this.#session.connection.query(sql)
      else {
        const fresh = await openSession(this.#session.config)
        try {
          await fresh.connection.query('SET SESSION foreign_key_checks = 0')
          await fresh.connection.query(sql)
        } finally {
          await endSession(fresh)
        }
      }
      this.#created.length = 0
    } catch (error) {
      const why = cause instanceof Error ? ` The restore failed because: ${cause.message}` : ''
      throw new DatabaseError(
        `Rolled back, but could not drop the tables this restore created (${this.#created.join(', ')}): ${(error as Error).message}.${why}`,
        { cause: cause ?? error, details: { createdTables: [...this.#created] } },
      )
    }
  }

  /** Sequences prepare() created, dropped like its tables (after them: their defaults name them). */
  async #dropCreatedSequences(usable: boolean, cause: unknown): Promise<void> {
    const sql = `DROP SEQUENCE IF EXISTS ${this.#createdSequences.map(quoteIdentifier).join(', ')}`
    try {
      if (usable) await this.#session.connection.query(sql)
      else {
        const fresh = await openSession(this.#session.config)
        try {
          await fresh.connection.query(sql)
        } finally {
          await endSession(fresh)
        }
      }
      this.#createdSequences.length = 0
    } catch (error) {
      const why = cause instanceof Error ? ` The restore failed because: ${cause.message}` : ''
      throw new DatabaseError(`Rolled back, but could not drop the sequences this restore created (${this.#createdSequences.join(', ')}): ${(error as Error).message}.${why}`, {
        cause: cause ?? error,
      })
    }
  }

  async #restoreForeignKeyChecks(): Promise<void> {
    try {
      await this.#session.connection.query('SET SESSION foreign_key_checks = 1')
    } catch {
      // Only possible on a broken connection, which close() then discards.
      this.#session.connection.destroy()
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return
    try {
      if (this.#state === 'open') await this.rollback()
    } finally {
      this.#state = 'closed'
      await this.#endLoaders()
      await endSession(this.#session)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The two ways rows reach a table

/** A multi-row INSERT: `head` + tuples joined by commas + `tail`; `rows[i]` made `tuples[i]`. */
interface InsertStatement {
  readonly head: string
  readonly tuples: readonly string[]
  readonly tail: string
  readonly rows: readonly Row[]
}

/** What a channel needs from the destination for one writeRows call. */
interface ChannelContext {
  readonly session: MysqlSession
  readonly target: TableSchema
  /** The table's quoted name in statements (its staging name while staged). */
  readonly sqlName: string
  readonly columns: readonly WriteColumn[]
  /** Columns that name a row in error messages (primary key, else the identity key). */
  readonly keyColumns: readonly string[]
  /** ` ON DUPLICATE KEY UPDATE t.k = t.k`, or '' when nothing can be a duplicate. */
  readonly onDuplicate: string
  readonly counts: { inserted: number; skipped: number }
  /** Given when the key's collation may call two different strings equal: counts such skips. */
  readonly countCollationSkips: ((rows: readonly Row[]) => Promise<void>) | undefined
  tuple(row: Row): string
  checkRowSize(row: Row, bytes: number): void
  insert(statement: InsertStatement): Promise<ResultSetHeader>
  /** The row (of rows just loaded) that the server refuses on its own, found by a savepoint probe. */
  probe(rows: readonly Row[]): Promise<Row | undefined>
}

/**
 * Multi-row `INSERT … VALUES (…),(…)`, each statement as large as the server allows (capped),
 * with one statement in flight while the next is built: the server inserts while JS encodes.
 * The in-flight promise is observed at once, so its failure is never unhandled; it is rethrown
 * at the next flush and stops the load.
 */
class InsertChannel {
  readonly #context: ChannelContext
  readonly #limit: number
  readonly #head: string
  #tuples: string[] = []
  #rows: Row[] = []
  #bytes = 0
  #inFlight: Promise<void> | undefined

  constructor(context: ChannelContext, limit: number) {
    this.#context = context
    this.#limit = limit
    this.#head = `INSERT INTO ${context.sqlName} (${context.columns.map((c) => quoteIdentifier(c.name)).join(', ')}) VALUES `
  }

  async add(row: Row): Promise<void> {
    const tuple = this.#context.tuple(row)
    const size = Buffer.byteLength(tuple) + 1
    const overhead = this.#head.length + this.#context.onDuplicate.length
    if (this.#bytes + size + overhead > this.#limit) await this.#flush()
    this.#context.checkRowSize(row, size + overhead)
    this.#tuples.push(tuple)
    this.#rows.push(row)
    this.#bytes += size
  }

  /** Waits for the statement in flight, if any (and rethrows its failure). */
  async settle(): Promise<void> {
    const pending = this.#inFlight
    this.#inFlight = undefined
    await pending
  }

  async #flush(): Promise<void> {
    await this.settle()
    if (this.#tuples.length === 0) return
    const rows = this.#rows
    const statement: InsertStatement = { head: this.#head, tuples: this.#tuples, tail: this.#context.onDuplicate, rows }
    this.#tuples = []
    this.#rows = []
    this.#bytes = 0
    const counts = this.#context.counts
    const { countCollationSkips } = this.#context
    this.#inFlight = this.#context.insert(statement).then(async (result) => {
      counts.inserted += result.affectedRows
      counts.skipped += rows.length - result.affectedRows
      if (rows.length > result.affectedRows && countCollationSkips) await countCollationSkips(rows)
    })
    this.#inFlight.catch(() => undefined)
  }

  async finish(): Promise<void> {
    await this.#flush()
    await this.settle()
  }

  async abort(): Promise<void> {
    await this.#inFlight?.catch(() => undefined)
    this.#inFlight = undefined
  }
}

/** One LOAD DATA statement in progress: its upload stream, its result and the rows' keys. */
interface LoadChunk {
  readonly stream: PassThrough
  readonly done: Promise<ResultSetHeader>
  /**
   * The rows sent, to name the one the server refuses (bounded by LOAD_CHUNK_BYTES / _ROWS);
   * undefined for a line that came encoded (addEncoded), which errors name by its number only.
   */
  readonly rows: (Row | undefined)[]
  bytes: number
}

/** Keys per SELECT of #countCollationSkips (a statement well under max_allowed_packet). */
const COLLATION_CHECK_ROWS = 1000

/** The rows of a load that came as rows (not encoded). */
function rowsOf(chunk: LoadChunk): Row[] {
  return chunk.rows.filter((row): row is Row => row !== undefined)
}

/** ER_DUP_ENTRY: the warning a LOAD DATA LOCAL gives for each row it skips on a duplicate key. */
const DUPLICATE_KEY = 1062

/**
 * LOAD DATA LOCAL INFILE straight into the table, the fast path (docs/adapters-mysql.md has the
 * measurements):
 * 1. the rows stream as tab-separated text with back-pressure: the next rows are encoded only
 *    when the socket has taken the previous ones; bytes travel as hex (UNHEX), bits as binary
 *    digits (CONV);
 * 2. because the server cannot stop a client's upload halfway, MySQL runs a LOCAL load as if
 *    IGNORE were given: a row whose key exists is skipped with a 1062 warning — exactly
 *    skip-existing — and a value that does not fit becomes a warning too instead of an error;
 * 3. so every warning must be a duplicate (1062); any other is a value MySQL changed or a row it
 *    refused (a CHECK constraint also only skips the row), and fails the load, naming the row
 *    when the server does. Chunks of LOAD_CHUNK_ROWS rows keep every warning listable (the
 *    session raises max_error_count to 65535) and bound the keys kept for error messages.
 */
class LoadChannel {
  readonly #context: ChannelContext
  readonly #statement: string
  #chunk: LoadChunk | undefined
  /** The encoded rows not yet handed to the stream: #piece up to #used. */
  #piece = Buffer.allocUnsafe(LOAD_PIECE_BYTES)
  #used = 0

  constructor(context: ChannelContext) {
    this.#context = context
    const targets: string[] = []
    const assignments: string[] = []
    context.columns.forEach((column, i) => {
      const name = quoteIdentifier(column.name)
      if (column.writer.load === 'plain') targets.push(name)
      else {
        targets.push(`@v${i}`)
        assignments.push(column.writer.load === 'hex' ? `${name} = UNHEX(@v${i})` : `${name} = CAST(CONV(@v${i}, 2, 10) AS UNSIGNED)`)
      }
    })
    this.#statement =
      `LOAD DATA LOCAL INFILE 'mergeback-rows' INTO TABLE ${context.sqlName} CHARACTER SET utf8mb4 ` +
      `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${targets.join(', ')})` +
      (assignments.length > 0 ? ` SET ${assignments.join(', ')}` : '')
  }

  async add(row: Row): Promise<void> {
    const columns = this.#context.columns
    // The row has every column (writeRows routes it here only then); more fields may be
    // generated columns, or fields the table lacks.
    if (Object.keys(row).length > columns.length) checkFields(this.#context.target, columns, row, this.#context.keyColumns)
    let line = ''
    try {
      for (let i = 0; i < columns.length; i++) {
        if (i > 0) line += '\t'
        line += loadDataField(columns[i].writer.field(row[columns[i].name]))
      }
    } catch (error) {
      throw withRowContext(error, this.#context.target.name, rowKey(row, this.#context.keyColumns))
    }
    line += '\n'
    const chunk = this.#chunk ?? this.#open()
    chunk.rows.push(row)
    chunk.bytes += line.length
    await this.#append(chunk, line)
    if (chunk.bytes >= LOAD_CHUNK_BYTES || chunk.rows.length >= LOAD_CHUNK_ROWS) await this.close()
  }

  /**
   * A row's LOAD DATA line as the reader's line converter wrote it: `text[start, end)`, its
   * newline included. It is copied into the piece; a line longer than a piece goes alone.
   */
  async addEncoded(text: Buffer, start: number, end: number): Promise<void> {
    const chunk = this.#chunk ?? this.#open()
    const length = end - start
    chunk.rows.push(undefined)
    chunk.bytes += length
    if (this.#used + length > LOAD_PIECE_BYTES) {
      await this.#flush(chunk)
      if (length > LOAD_PIECE_BYTES) await this.#send(chunk, text.subarray(start, end))
    }
    if (length <= LOAD_PIECE_BYTES) this.#used += text.copy(this.#piece, this.#used, start, end)
    if (chunk.bytes >= LOAD_CHUNK_BYTES || chunk.rows.length >= LOAD_CHUNK_ROWS) await this.close()
  }

  /**
   * Encodes a row's line straight into the piece being filled: one UTF-8 write per line, where a
   * string of many lines joined made V8 flatten a rope of every field before encoding it (a
   * quarter of a restore's CPU). A line that might not fit (3 bytes per UTF-16 unit at most) sends
   * the piece first; a line longer than a piece goes alone, cut by #send.
   */
  async #append(chunk: LoadChunk, line: string): Promise<void> {
    if (this.#used + line.length * 3 > LOAD_PIECE_BYTES) {
      await this.#flush(chunk)
      if (line.length * 3 > LOAD_PIECE_BYTES) return this.#send(chunk, Buffer.from(line, 'utf8'))
    }
    this.#used += this.#piece.write(line, this.#used, 'utf8')
  }

  #open(): LoadChunk {
    const stream = new PassThrough()
    const done = this.#context.session.connection.query<ResultSetHeader>({ sql: this.#statement, infileStreamFactory: () => stream }).then(([result]) => result)
    done.catch(() => undefined)
    this.#chunk = { stream, done, rows: [], bytes: 0 }
    return this.#chunk
  }

  /**
   * Hands the encoded rows to the stream; waits while the socket is full (or the load failed).
   * mysql2 sends each chunk of the stream as one packet, and the server drops the connection on a
   * packet above max_allowed_packet: a row with a large value is cut into LOAD_PIECE_BYTES pieces
   * (the server reads the file as one byte stream, whatever the packets).
   */
  async #send(chunk: LoadChunk, bytes: Buffer): Promise<void> {
    for (let offset = 0; offset < bytes.length; offset += LOAD_PIECE_BYTES) {
      if (!chunk.stream.write(bytes.subarray(offset, offset + LOAD_PIECE_BYTES))) await Promise.race([once(chunk.stream, 'drain'), chunk.done])
    }
  }

  /** Sends the piece being filled; the stream keeps it, so the next rows go into a new one. */
  async #flush(chunk: LoadChunk): Promise<void> {
    if (this.#used === 0) return
    const bytes = this.#piece.subarray(0, this.#used)
    this.#piece = Buffer.allocUnsafe(LOAD_PIECE_BYTES)
    this.#used = 0
    await this.#send(chunk, bytes)
  }

  /** Ends the current chunk: finishes the LOAD and checks that its only warnings are skipped duplicates. */
  async close(): Promise<void> {
    const chunk = this.#chunk
    if (!chunk) return
    try {
      await this.#flush(chunk)
      chunk.stream.end()
      let loaded: ResultSetHeader
      try {
        loaded = await chunk.done
      } catch (error) {
        const at = rowNumberFromMessage(error)
        throw this.#error(error, at !== undefined ? chunk.rows[at - 1] : undefined)
      }
      if (loaded.warningStatus > 0) await this.#checkWarnings(chunk, loaded.warningStatus)
      this.#context.counts.inserted += loaded.affectedRows
      this.#context.counts.skipped += chunk.rows.length - loaded.affectedRows
      // (A table given encoded lines has no collation count to make: acceptsRecordLines.)
      if (chunk.rows.length > loaded.affectedRows && this.#context.countCollationSkips) await this.#context.countCollationSkips(rowsOf(chunk))
    } finally {
      this.#chunk = undefined
      this.#used = 0
    }
  }

  /**
   * Every warning must be a skipped duplicate; the first that is not fails the load. A chunk has
   * at most LOAD_CHUNK_ROWS rows, so all of its duplicate warnings fit in the session's list.
   */
  async #checkWarnings(chunk: LoadChunk, count: number): Promise<void> {
    const [warnings] = await this.#context.session.connection.query<RowDataPacket[]>('SHOW WARNINGS')
    const first = warnings.find((w) => Number(w.Code) !== DUPLICATE_KEY)
    if (!first) {
      if (warnings.length >= count) return
      throw new DatabaseError(`Failed loading rows into ${this.#context.target.name}: MySQL reported ${count} warnings, more than it lists, so not all of them are skipped duplicates.`, {
        table: this.#context.target.name,
      })
    }
    const message = String(first.Message)
    const errno = Number(first.Code)
    const warning = Object.assign(new Error(message), { errno, code: errorName(errno), sqlMessage: message, sqlState: 'HY000' })
    // A refused row (foreign key, CHECK) is only skipped and its warning names no row: find it.
    const at = rowNumberFromMessage(warning)
    // The probe finds a refused row among those that came as rows, not among encoded lines.
    const row = at !== undefined ? chunk.rows[at - 1] : await this.#context.probe(rowsOf(chunk))
    throw this.#error(warning, row)
  }

  /** The failure of a load, naming the row's key when it is known. */
  #error(error: unknown, row?: Row): Error {
    return toStatementError(error, {
      table: this.#context.target.name,
      key: row ? rowKey(row, this.#context.keyColumns) : undefined,
      action: `loading rows into ${this.#context.target.name}`,
    })
  }

  /** Stops a chunk after a failure elsewhere: ends the upload and waits for the server. */
  async abort(): Promise<void> {
    const chunk = this.#chunk
    this.#chunk = undefined
    if (!chunk) return
    chunk.stream.end()
    await chunk.done.catch(() => undefined)
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * The columns that identify a row for skip-existing: the primary key, else the first UNIQUE key
 * whose columns are all NOT NULL (a nullable unique key lets NULL rows repeat, so it cannot tell
 * "already there"). Undefined: whole-row identity.
 */
export function identityKey(table: TableSchema): readonly string[] | undefined {
  if (table.primaryKey.length > 0) return table.primaryKey
  const nullable = new Set(table.columns.filter((c) => c.nullable).map((c) => c.name))
  return table.uniqueConstraints.find((u) => u.columns.every((c) => !nullable.has(c)))?.columns
}

/** The rows of chunks of record lines (a chain's, which come unconverted). */
async function* parsedLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Row[]> {
  for await (const chunk of chunks) {
    const rows: Row[] = []
    for (let start = 0; start < chunk.length; ) {
      const end = chunk.indexOf(LF, start)
      rows.push(JSON.parse(chunk.toString('utf8', start, end)) as Row)
      start = end + 1
    }
    yield rows
  }
}

function columnOf(table: TableSchema, name: string): ColumnSchema {
  const column = table.columns.find((c) => c.name === name)
  if (!column) throw new UsageError(`Table "${table.name}" has no column "${name}".`, { code: 'SCHEMA_MISMATCH' })
  return column
}

function rowKey(row: Row, keyColumns: readonly string[]): Row | undefined {
  if (keyColumns.length === 0) return undefined
  const key: Row = {}
  for (const name of keyColumns) key[name] = row[name] ?? null
  return key
}

/** Adds the table and row key to a value error raised by mysql-values. */
function withRowContext(error: unknown, table: string, key: Row | undefined): unknown {
  if (error instanceof DatabaseError && error.table === undefined) {
    return new DatabaseError(`Table ${table}${key ? `, key ${JSON.stringify(key)}` : ''}: ${error.message}`, {
      cause: error,
      table,
      key,
      engineCode: error.engineCode,
      details: error.details,
    })
  }
  return error
}

/**
 * Refuses a row with a field that is neither a written column nor a generated one (whose value
 * the server computes): writing the row would silently lose that field.
 */
function checkFields(target: TableSchema, columns: readonly WriteColumn[], row: Row, keyColumns: readonly string[]): void {
  const written = new Set(columns.map((c) => c.name))
  const generated = new Set(target.columns.filter((c) => c.generated).map((c) => c.name))
  const stray = Object.keys(row).find((k) => !written.has(k) && !generated.has(k))
  if (stray === undefined) return
  throw new UsageError(`A row of "${target.name}" has a field "${stray}" that is not a column of the table: writing would lose it.`, {
    code: 'SCHEMA_MISMATCH',
    details: { table: target.name, key: rowKey(row, keyColumns) },
  })
}

/** The server's names of the warnings a LOCAL load reports instead of errors. */
const WARNING_NAMES: Readonly<Record<number, string>> = {
  1048: 'ER_BAD_NULL_ERROR',
  1261: 'ER_WARN_TOO_FEW_RECORDS',
  1262: 'ER_WARN_TOO_MANY_RECORDS',
  1263: 'ER_WARN_NULL_TO_NOTNULL',
  1264: 'ER_WARN_DATA_OUT_OF_RANGE',
  1265: 'WARN_DATA_TRUNCATED',
  1292: 'ER_TRUNCATED_WRONG_VALUE',
  1366: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
  1406: 'ER_DATA_TOO_LONG',
  1452: 'ER_NO_REFERENCED_ROW_2',
  4025: 'ER_CONSTRAINT_FAILED',
}

function errorName(errno: number): string {
  return WARNING_NAMES[errno] ?? `ER_${errno}`
}

/** SHA-256 (32 bytes) of a row's exact column texts; see #writeByRowIdentity. */
function rowHashExpression(columns: readonly ColumnSchema[], qualifier: string): string {
  const parts = columns.map((column) => {
    const ref = `${qualifier}.${quoteIdentifier(column.name)}`
    switch (typeClassOf(column.type)) {
      case 'float':
        return `COALESCE(CONCAT('v', CAST(CAST(${ref} AS DOUBLE) AS CHAR)), 'n')`
      case 'integer':
      case 'bigint':
      case 'decimal':
      case 'double':
      case 'year':
      case 'date':
      case 'datetime':
      case 'timestamp':
      case 'time':
        return `COALESCE(CONCAT('v', CAST(${ref} AS CHAR)), 'n')`
      default:
        return `COALESCE(CONCAT('v', HEX(${ref})), 'n')`
    }
  })
  return `UNHEX(SHA2(CONCAT_WS(',', ${parts.join(', ')}), 256))`
}

/** What every write session sets first (the destination's own, and its loading sessions). */
async function setUpWriteSession(session: MysqlSession): Promise<void> {
  // max_error_count: a LOCAL load reports bad values as warnings, which must all be listable.
  await session.connection.query('SET SESSION foreign_key_checks = 0, SESSION max_error_count = 65535')
  if (session.flavor === 'mysql') {
    // MySQL 8 caches information_schema.TABLES.AUTO_INCREMENT; finish() needs the live value.
    await session.connection.query('SET SESSION information_schema_stats_expiry = 0').catch(() => undefined)
  }
}
