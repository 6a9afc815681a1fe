/**
 * Writing into a SQLite database: one transaction from open to commit.
 *
 * 1. open: the file is opened (and created when missing — remembered, so a rollback can remove
 *    it), `PRAGMA foreign_keys = ON`, then `BEGIN IMMEDIATE` takes the write lock at once (a busy
 *    database fails here, before any work) and `PRAGMA defer_foreign_keys = ON` moves every
 *    foreign-key check to the end of the transaction: rows may arrive in any order and cycles
 *    need nothing special. A file that holds no table yet gets `foreign_keys = OFF` instead
 *    (isEmptyDatabase): finish() alone checks its keys.
 * 2. prepare: checks every existing table has the backup's columns (nothing is silently dropped),
 *    notes the foreign-key violations already in the file (so only new ones fail the restore),
 *    drops the triggers of the selected existing tables inside the transaction (SQLite has no
 *    way to switch them off, and its DDL is transactional: commit() re-creates them from their
 *    own text just before COMMIT, a rollback restores them), so that restores and merges write
 *    exactly the backup's values (reported as a warning),
 *    creates missing tables (a SQLite backup's own CREATE TABLE / INDEX text; otherwise DDL made
 *    from the portable schema) with the unique indexes that may decide which rows conflict (of
 *    tables without a primary key) — their other indexes are built by finish(), after the rows,
 *    in one sorted pass each — and, with `drop`, empties the selected tables, children first.
 *    Emptying refuses when a table outside the selection has rows referencing a selected one.
 * 3. writeRows: prepared INSERTs inside the transaction, of up to ROWS_PER_INSERT rows each (rows
 *    with the same columns; a failing group is undone by SQLite and its rows go in one by one, so
 *    the error names the row). A table with a key uses
 *    `ON CONFLICT (key) DO NOTHING`, so a row whose key exists is skipped (and counted) while a
 *    NOT NULL, CHECK or other UNIQUE violation still fails with the row's key. A table without
 *    a key is matched on whole rows, counting duplicates: the rows go to a TEMP table with the
 *    same affinities, and one INSERT … SELECT adds each row as many times as the backup has it
 *    more often than the table (window row_number against a GROUP BY count; `IS` so NULL = NULL).
 * 4. readByKeys / updateRows / countRows serve the merge, inside the same transaction.
 * 5. finish: builds the deferred indexes, recreates the triggers and AUTOINCREMENT counters of created tables (after the data,
 *    so the triggers do not fire on it), then runs `PRAGMA foreign_key_check` on every table the
 *    work could have broken and fails with the first new violation, naming table, key and key
 *    constraint — so commit() does not fail on a deferred key.
 * 6. commit / rollback / close. Rollback restores the file exactly (SQLite's journal) and deletes
 *    it when this session created it.
 */
import type {
  ConnectionConfig,
  DatabaseSchema,
  Destination,
  DestinationOptions,
  ForeignKeySchema,
  PrepareOptions,
  PrepareResult,
  Row,
  TableSchema,
  ValueKind,
  WireValue,
  WriteResult,
} from '../adapter.js'
import { checkVirtualTable, createVirtualTableSql, VirtualTableError, type VirtualTableDefinition } from '../types/virtual-tables.js'
import { DatabaseError, FormatError, InternalError, UsageError } from '../../errors.js'
import {
  openReadOnly,
  openReadWrite,
  quoteIdent,
  removeDatabaseFile,
  SQLITE_CAPABILITIES,
  toMergebackError,
  withErrors,
  type ErrorContext,
  type SqliteDatabase,
  type SqliteStatement,
} from './sqlite-connection.js'
import {
  asciiLower,
  describeDatabase,
  fullTextContent,
  isPlainCreate,
  listTables,
  readForeignKeyList,
  readTableInfo,
  tableExists,
  type SqliteColumnInfo,
  type SqliteTableInfo,
  type SqliteTableOptions,
} from './sqlite-introspector.js'
import { sqliteEnumCheck, uniqueObjectName } from '../types/type-mapping.js'
import { decodeValue, encodeValue, sqliteTypeFor, ValueDecodeError, type Affinity, type SqliteValue } from './sqlite-values.js'

/**
 * Rows per batch of a restore (Destination.rowBatchSize), not the reader's default 5000: a batch's
 * parsed rows live until its last INSERT, long enough to be promoted to V8's old space, and at
 * 5000 rows of a wide table they were ~20 MB of the heap. Peak RSS of the scale-5 restore
 * 137-140 → 118-120 MB for the same CPU (docs/performance.md, round fourteen).
 */
const ROW_BATCH_SIZE = 1000
/** Rows per multi-row INSERT of a restore (fewer if the parameter limit says so). */
const ROWS_PER_INSERT = 64
/** Bound parameters per statement in readByKeys and the multi-row INSERTs (SQLite's limit here is 32766). */
const MAX_PARAMETERS = 30_000
/** Keys per readByKeys statement, whatever the parameter count allows. */
const MAX_KEYS_PER_QUERY = 5_000
const TEMP_ROWS = 'mergeback_rows'
const FK_ACTIONS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT', 'NO ACTION'])

type State = 'open' | 'committed' | 'rolled-back' | 'closed'

interface Violation {
  readonly table: string
  readonly rowid: bigint | null
  readonly parent: string
  readonly fkid: number
}

/** How one field of incoming rows is bound: the target column and the kind to read the wire value by. */
interface BoundColumn {
  readonly field: string
  readonly target: SqliteColumnInfo
  readonly kind: ValueKind
}

/** A write session on one SQLite file (see the module header). Made by `SqliteDestination.open`. */
export class SqliteDestination implements Destination {
  readonly engine = 'sqlite' as const
  readonly capabilities = SQLITE_CAPABILITIES
  readonly rowBatchSize = ROW_BATCH_SIZE
  readonly #db: SqliteDatabase
  readonly #file: string
  readonly #database: string
  readonly #createdFile: boolean
  #state: State = 'open'
  #prepared = false
  /** Target tables by ASCII-lowercased name (SQLite's own rule); null = known not to exist. */
  readonly #infos = new Map<string, SqliteTableInfo | null>()
  /** Backup schemas of the tables prepare() created (for finish()). */
  readonly #created: TableSchema[] = []
  /** Indexes of created tables built by finish() after the rows (#createIndexes). */
  #deferredIndexes: { table: string; name: string; unique: boolean; sql: string }[] = []
  /** A SQLite backup's AUTOINCREMENT counters by table (options.sequence), for finish(). */
  readonly #sequences = new Map<string, bigint>()
  /** Tables written, updated or emptied: their foreign keys are checked in finish(). */
  readonly #touched = new Set<string>()
  /** Tables emptied or updated: the tables referencing them are checked too. */
  readonly #parentsChanged = new Set<string>()
  /** Foreign-key violations that were in the file before we changed anything, by table. */
  readonly #baseline = new Map<string, Violation[]>()
  /** Triggers dropped by prepare(), re-created by commit() (see the module header). */
  #droppedTriggers: { name: string; sql: string }[] = []
  /** A read-only session (analyze): the file is opened read-only, see Adapter.openDestination. */
  #readOnly = false

  private constructor(db: SqliteDatabase, file: string, database: string, createdFile: boolean) {
    this.#db = db
    this.#file = file
    this.#database = database
    this.#createdFile = createdFile
  }

  /**
   * Opens (or creates) `config.url` and begins the write transaction. Throws UsageError for a
   * directory or a file that is not a SQLite database, NotFoundError when the directory is
   * missing, ConnectionError when the file stays locked for `connectTimeoutMs`. On failure a
   * file this call created is removed again.
   */
  static open(config: ConnectionConfig, options: DestinationOptions = {}): SqliteDestination {
    const file = config.url
    if (options.readOnly) {
      // analyze: a read transaction on a file opened read-only (it must exist); the first read
      // fixes the snapshot every later read sees.
      const db = openReadOnly(file, config.connectTimeoutMs ?? 5000)
      try {
        withErrors({ file, action: 'opening' }, () => {
          db.exec('BEGIN')
          db.prepare('SELECT count(*) FROM main.sqlite_schema').get()
        })
      } catch (error) {
        db.close()
        throw error
      }
      const destination = new SqliteDestination(db, file, config.database, false)
      destination.#readOnly = true
      return destination
    }
    const { db, created } = openReadWrite(file, config.connectTimeoutMs ?? 5000)
    try {
      withErrors({ file, action: 'opening' }, () => {
        // Must be set outside a transaction; per connection, so the file is not changed by it.
        let enforced = !isEmptyDatabase(db)
        db.pragma(`foreign_keys = ${enforced ? 'ON' : 'OFF'}`)
        db.exec('BEGIN IMMEDIATE')
        if (!enforced && !isEmptyDatabase(db)) {
          // Another connection created something between the look and the lock.
          db.exec('ROLLBACK')
          db.pragma('foreign_keys = ON')
          db.exec('BEGIN IMMEDIATE')
          enforced = true
        }
        // Reset by SQLite at every COMMIT/ROLLBACK, so set inside the transaction.
        if (enforced) db.pragma('defer_foreign_keys = ON')
      })
    } catch (error) {
      db.close()
      if (created) removeDatabaseFile(file)
      throw error
    }
    return new SqliteDestination(db, file, config.database, created)
  }

  async describe(): Promise<DatabaseSchema> {
    this.#assertOpen()
    return withErrors(this.#context(), () => describeDatabase(this.#db, this.#database))
  }

  async prepare(backupSchema: DatabaseSchema, options: PrepareOptions): Promise<PrepareResult> {
    this.#assertOpen()
    if (options.mode === 'merge' && options.drop) throw new UsageError('A merge never deletes: drop is only for restore.')
    return withErrors(this.#context({ action: 'preparing' }), () => {
      const warnings: string[] = []
      const missing: TableSchema[] = []
      const existing: SqliteTableInfo[] = []
      for (const table of backupSchema.tables) {
        const info = this.#info(table.name)
        if (!info) missing.push(table)
        else {
          this.#checkColumns(table, info)
          existing.push(info)
        }
      }
      if (options.mode === 'merge' && missing.length > 0) {
        throw new UsageError(
          `Table${missing.length > 1 ? 's' : ''} ${missing.map((t) => `"${t.name}"`).join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist in ${this.#file}; a merge creates nothing. Restore ${missing.length > 1 ? 'them' : 'it'} first, or leave ${missing.length > 1 ? 'them' : 'it'} out with --exclude.`,
          { code: 'SCHEMA_MISMATCH' },
        )
      }
      this.#takeBaseline(existing.map((t) => t.schema.name))
      warnings.push(...this.#dropTriggers(existing.map((t) => t.schema.name)))

      const creating = new Set(missing.map((t) => asciiLower(t.name)))
      for (const table of missing) this.#createTable(table, backupSchema.engine, creating, warnings)
      for (const table of missing) this.#createIndexes(table, backupSchema.engine, warnings)
      this.#infos.clear()
      for (const table of missing) {
        this.#created.push(table)
        this.#touched.add(asciiLower(table.name))
      }
      if (backupSchema.engine === 'sqlite') {
        for (const table of backupSchema.tables) {
          const sequence = (table.options as Partial<SqliteTableOptions> | undefined)?.sequence
          if (typeof sequence === 'string' && /^[0-9]{1,19}$/.test(sequence)) this.#sequences.set(table.name, BigInt(sequence))
        }
      }

      const emptied = options.drop ? this.#empty(existing, new Set(backupSchema.tables.map((t) => asciiLower(t.name)))) : []
      this.#prepared = true
      return { created: missing.map((t) => t.name), emptied, warnings }
    })
  }

  async writeRows(table: TableSchema, batches: AsyncIterable<Row[]>): Promise<WriteResult> {
    this.#assertPrepared()
    const info = this.#requireInfo(table.name)
    this.#touched.add(asciiLower(info.schema.name))
    const backupColumns = new Map(table.columns.map((c) => [c.name, c]))
    const keyOf = keyReader(table.primaryKey.length > 0 ? table.primaryKey : (info.conflictKey?.columns ?? []))
    const bindings = new Map<string, BoundColumn[]>()
    // The rows of a table nearly always have the fields of the row before: those are compared in
    // place (no array, no joined signature per row).
    let lastFields: string[] = []
    let lastBound: BoundColumn[] | undefined
    const bind = (row: Row): BoundColumn[] => {
      if (lastBound !== undefined && sameFields(row, lastFields)) return lastBound
      const fields = Object.keys(row)
      const signature = fields.join('\u0000')
      let bound = bindings.get(signature)
      if (!bound) {
        bound = this.#bindFields(info, fields, (field) => backupColumns.get(field)?.kind)
        bindings.set(signature, bound)
      }
      lastFields = fields
      lastBound = bound
      return bound
    }
    const empty = withErrors(this.#context({ table: info.schema.name }), () => this.#db.prepare(`SELECT 1 FROM main.${quoteIdent(info.schema.name)} LIMIT 1`).get() === undefined)
    if (info.conflictKey || empty) return this.#insertKeyed(info, batches, bind, keyOf, info.conflictKey !== undefined)
    return this.#insertKeyless(info, batches, bind)
  }

  async readByKeys(table: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<Row[]> {
    this.#assertOpen()
    const info = this.#requireInfo(table)
    const keyTargets = keyColumns.map((name) => this.#column(info, name, 'key'))
    if (keys.length === 0) return []
    const columns = info.columns
    const select = `SELECT ${columns.map((c) => quoteIdent(c.name)).join(', ')} FROM main.${quoteIdent(info.schema.name)} WHERE `
    const perQuery = Math.max(1, Math.min(MAX_KEYS_PER_QUERY, Math.floor(MAX_PARAMETERS / keyTargets.length)))
    const statements = new Map<number, SqliteStatement>()
    const rows: Row[] = []
    for (let start = 0; start < keys.length; start += perQuery) {
      const chunk = keys.slice(start, start + perQuery)
      const params: SqliteValue[] = []
      for (const key of chunk) {
        keyTargets.forEach((target, i) => params.push(this.#decode(key[keyColumns[i]], target.schema.kind, target, info, key)))
      }
      const context = this.#context({ table: info.schema.name, action: 'reading' })
      let statement = statements.get(chunk.length)
      if (!statement) {
        const where =
          keyTargets.length === 1
            ? `${quoteIdent(keyTargets[0].name)} IN (${chunk.map(() => '?').join(', ')})`
            : `(${keyTargets.map((t) => quoteIdent(t.name)).join(', ')}) IN (VALUES ${chunk.map(() => `(${keyTargets.map(() => '?').join(', ')})`).join(', ')})`
        statement = withErrors(context, () => this.#db.prepare(select + where).raw(true))
        statements.set(chunk.length, statement)
      }
      const found = withErrors(context, () => statement.all(...params) as unknown[][])
      for (const values of found) {
        const row: Row = {}
        for (let i = 0; i < columns.length; i++) row[columns[i].name] = encodeValue(values[i] as SqliteValue, columns[i].schema.kind)
        rows.push(row)
      }
    }
    return rows
  }

  async updateRows(table: string, keyColumns: readonly string[], rows: readonly Row[]): Promise<number> {
    this.#assertPrepared()
    const info = this.#requireInfo(table)
    const keyTargets = keyColumns.map((name) => this.#column(info, name, 'key'))
    const keyNames = new Set(keyColumns)
    const name = asciiLower(info.schema.name)
    this.#touched.add(name)
    this.#parentsChanged.add(name)
    const statements = new Map<string, { statement: SqliteStatement; bound: BoundColumn[] }>()
    const keyOf = keyReader(keyColumns)
    let changed = 0
    for (const row of rows) {
      const fields = Object.keys(row).filter((f) => !keyNames.has(f))
      if (fields.length === 0) continue
      const signature = fields.join('\u0000')
      let entry = statements.get(signature)
      if (!entry) {
        const bound = this.#bindFields(info, fields, () => undefined)
        const sql =
          `UPDATE main.${quoteIdent(info.schema.name)} SET ${bound.map((b) => `${quoteIdent(b.target.name)} = ?`).join(', ')} ` +
          `WHERE ${keyTargets.map((t) => `${quoteIdent(t.name)} = ?`).join(' AND ')}`
        entry = { statement: withErrors(this.#context({ table: info.schema.name }), () => this.#db.prepare(sql)), bound }
        statements.set(signature, entry)
      }
      const params = entry.bound.map((b) => this.#decode(row[b.field], b.kind, b.target, info, row, keyOf))
      keyColumns.forEach((column, i) => params.push(this.#decode(row[column], keyTargets[i].schema.kind, keyTargets[i], info, row, keyOf)))
      const statement = entry.statement
      const result = withErrors(this.#context({ table: info.schema.name, key: keyOf(row), action: 'updating' }), () => statement.run(...params))
      changed += result.changes
    }
    return changed
  }

  /** Three-way merge with --apply-deletions: deletes the records with these keys; returns how many were deleted. */
  async deleteRows(table: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<number> {
    this.#assertPrepared()
    const info = this.#requireInfo(table)
    const keyTargets = keyColumns.map((name) => this.#column(info, name, 'key'))
    const name = asciiLower(info.schema.name)
    this.#touched.add(name)
    this.#parentsChanged.add(name)
    const keyOf = keyReader(keyColumns)
    const sql = `DELETE FROM main.${quoteIdent(info.schema.name)} WHERE ${keyTargets.map((t) => `${quoteIdent(t.name)} = ?`).join(' AND ')}`
    const statement = withErrors(this.#context({ table: info.schema.name }), () => this.#db.prepare(sql))
    let deleted = 0
    for (const key of keys) {
      const params = keyColumns.map((column, i) => this.#decode(key[column], keyTargets[i].schema.kind, keyTargets[i], info, key, keyOf))
      deleted += withErrors(this.#context({ table: info.schema.name, key: keyOf(key), action: 'deleting' }), () => statement.run(...params)).changes
    }
    return deleted
  }

  async countRows(table: string): Promise<number> {
    this.#assertOpen()
    const info = this.#requireInfo(table)
    return withErrors(this.#context({ table: info.schema.name }), () =>
      Number((this.#db.prepare(`SELECT count(*) AS n FROM main.${quoteIdent(info.schema.name)}`).get() as { n: bigint }).n),
    )
  }

  async finish(): Promise<void> {
    this.#assertOpen()
    withErrors(this.#context({ action: 'finishing' }), () => {
      this.#buildDeferredIndexes()
      for (const table of this.#created) this.#restoreTableExtras(table)
      this.#carrySequences()
      this.#rebuildFullTextIndexes()
      this.#checkForeignKeys()
    })
  }

  async commit(): Promise<void> {
    this.#assertOpen()
    try {
      for (const trigger of this.#droppedTriggers) this.#db.exec(trigger.sql)
      this.#droppedTriggers = []
      this.#db.exec('COMMIT')
      this.#state = 'committed'
    } catch (error) {
      const mapped = toMergebackError(error, this.#context({ action: 'committing' }))
      await this.rollback(mapped)
      throw mapped
    }
  }

  async rollback(_cause?: unknown): Promise<void> {
    if (this.#state !== 'open') return
    this.#state = 'rolled-back'
    try {
      // SQLite may already have rolled back by itself (after SQLITE_FULL, SQLITE_IOERR, …).
      if (this.#db.open && this.#db.inTransaction) this.#db.exec('ROLLBACK')
    } finally {
      if (this.#createdFile) {
        // The file did not exist before: leave nothing behind, not even an empty database.
        this.#db.close()
        removeDatabaseFile(this.#file)
      }
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return
    try {
      if (this.#state === 'open') await this.rollback()
    } finally {
      this.#state = 'closed'
      if (this.#db.open) this.#db.close()
    }
  }

  // ------------------------------------------------------------------------------------------
  // prepare()

  /** Drops the triggers of these tables for this transaction (re-created by commit()); returns what it reports. */
  #dropTriggers(tables: readonly string[]): string[] {
    if (tables.length === 0) return []
    const found = this.#db
      .prepare(
        `SELECT name, tbl_name AS "table", sql FROM main.sqlite_schema WHERE type = 'trigger' AND sql IS NOT NULL ` +
          `AND lower(tbl_name) IN (${tables.map(() => 'lower(?)').join(', ')}) ORDER BY name`,
      )
      .all(...tables) as { name: string; table: string; sql: string }[]
    const triggers = found
    if (this.#readOnly) {
      if (triggers.length === 0) return []
      return [`Triggers will not run during the merge (dropped in its transaction, re-created at commit): ${triggers.map((t) => `${t.name} on "${t.table}"`).join(', ')}.`]
    }
    for (const trigger of triggers) {
      this.#db.exec(`DROP TRIGGER main.${quoteIdent(trigger.name)}`)
      this.#droppedTriggers.push(trigger)
    }
    if (triggers.length === 0) return []
    return [`Triggers did not run during this write (dropped in its transaction, re-created at commit): ${triggers.map((t) => `${t.name} on "${t.table}"`).join(', ')}.`]
  }

  #checkColumns(table: TableSchema, info: SqliteTableInfo): void {
    const lacking = table.columns.filter((c) => !c.generated && !this.#findColumn(info, c.name)).map((c) => `"${c.name}"`)
    if (lacking.length > 0) {
      throw new UsageError(
        `Table "${info.schema.name}" in ${this.#file} has no column${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')}, which the backup has: add ${lacking.length > 1 ? 'them' : 'it'} (ALTER TABLE … ADD COLUMN) or leave the table out with --exclude.`,
        { code: 'SCHEMA_MISMATCH', details: { table: info.schema.name, columns: lacking } },
      )
    }
  }

  /** Remembers the foreign-key violations already in these tables and in the tables referencing them. */
  #takeBaseline(tables: readonly string[]): void {
    const wanted = new Set(tables.map(asciiLower))
    for (const table of this.#tablesToCheck(wanted, wanted)) {
      if (!this.#baseline.has(table)) this.#baseline.set(table, this.#violations(table))
    }
  }

  #createTable(table: TableSchema, engine: DatabaseSchema['engine'], creating: ReadonlySet<string>, warnings: string[]): void {
    const options = table.options as Partial<SqliteTableOptions> | undefined
    const context = this.#context({ table: table.name, action: 'creating' })
    if (engine === 'sqlite' && options?.virtual !== undefined) {
      // FTS5 / R*Tree: built from the checked fields (the schema guard has refused anything else).
      let definition: VirtualTableDefinition
      try {
        definition = checkVirtualTable(options.virtual)
      } catch (error) {
        if (!(error instanceof VirtualTableError)) throw error
        throw new FormatError(`The backup's virtual table "${table.name}" is refused: ${error.message}.`, { table: table.name })
      }
      withErrors(context, () => this.#db.prepare(createVirtualTableSql(table.name, definition, quoteIdent)).run())
      return
    }
    if (engine === 'sqlite' && typeof options?.sql === 'string') {
      if (!isPlainCreate(options.sql, 'table', table.name)) {
        throw new FormatError(`The backup's CREATE TABLE statement for "${table.name}" is not a plain CREATE TABLE of that table; refusing to run it.`, {
          table: table.name,
        })
      }
      withErrors(context, () => this.#db.prepare(options.sql as string).run())
      return
    }
    if (table.columns.length === 0) {
      throw new FormatError(`The backup gives no columns for table "${table.name}", so it cannot be created.`, { table: table.name })
    }
    const pk = table.primaryKey
    const pkColumn = pk.length === 1 ? table.columns.find((c) => c.name === pk[0]) : undefined
    const rowidKey = pkColumn && (pkColumn.kind === 'integer' || pkColumn.kind === 'bigint') ? pkColumn.name : undefined
    const parts = table.columns.map((column) => {
      const type = sqliteTypeFor(column, engine)
      let definition = quoteIdent(column.name) + (type ? ` ${type}` : '')
      // A SQLite backup's AUTOINCREMENT table (it carries its counter): AUTOINCREMENT again.
      if (column.name === rowidKey) definition += engine === 'sqlite' && typeof options?.sequence === 'string' ? ' PRIMARY KEY AUTOINCREMENT' : ' PRIMARY KEY'
      else if (!column.nullable || pk.includes(column.name)) definition += ' NOT NULL'
      const check = sqliteEnumCheck(column, quoteIdent)
      return check ? `${definition} ${check}` : definition
    })
    if (pk.length > 0 && !rowidKey) parts.push(`PRIMARY KEY (${pk.map(quoteIdent).join(', ')})`)
    for (const unique of table.uniqueConstraints) {
      parts.push(`CONSTRAINT ${quoteIdent(unique.name)} UNIQUE (${unique.columns.map(quoteIdent).join(', ')})`)
    }
    for (const key of table.foreignKeys) {
      const parent = asciiLower(key.referencedTable)
      if (!creating.has(parent) && !this.#info(key.referencedTable)) {
        warnings.push(
          `Foreign key ${key.name} of "${table.name}" references "${key.referencedTable}", which is neither in the backup nor in ${this.#file}: not created.`,
        )
        continue
      }
      parts.push(foreignKeyClause(key))
    }
    const sql = `CREATE TABLE main.${quoteIdent(table.name)} (\n  ${parts.join(',\n  ')}\n)`
    withErrors(context, () => this.#db.prepare(sql).run())
  }

  /**
   * Leaves a created table's indexes to finish() (#buildDeferredIndexes): one sorted build after
   * the load is much cheaper than keeping them up to date row by row (a unique index on a column
   * the rows do not come sorted by costs a B-tree descent per row). Only an index that may decide
   * which rows conflict is created now: a unique index of a table without a primary key (it may
   * be the conflict key, readTableInfo). With a primary key, the key alone decides (`ON CONFLICT
   * (key) DO NOTHING`, checked before any other unique index); another unique index can only
   * fail a row, and then fails the build in finish() instead, before the commit.
   */
  #createIndexes(table: TableSchema, engine: DatabaseSchema['engine'], warnings: string[]): void {
    const context = this.#context({ table: table.name, action: 'indexing' })
    const taken = (name: string): boolean =>
      this.#db.prepare(`SELECT 1 FROM main.sqlite_schema WHERE name = ?`).get(name) !== undefined || this.#deferredIndexes.some((i) => asciiLower(i.name) === asciiLower(name))
    const keyed = table.primaryKey.length > 0
    const create = (name: string, unique: boolean, sql: string): void => {
      if (unique && !keyed) withErrors(context, () => this.#db.prepare(sql).run())
      else this.#deferredIndexes.push({ table: table.name, name, unique, sql })
    }
    for (const original of table.indexes) {
      // Another engine's index names are per table (MariaDB): SQLite's are per file.
      const index =
        engine === 'sqlite'
          ? original
          : {
              ...original,
              name: uniqueObjectName(
                original.name,
                'sqlite',
                new Set([...(this.#db.prepare(`SELECT lower(name) AS n FROM main.sqlite_schema`).pluck().all() as string[]), ...this.#deferredIndexes.map((i) => asciiLower(i.name))]),
              ),
            }
      if (taken(index.name)) {
        warnings.push(`Index "${index.name}" of "${table.name}" was not created: ${this.#file} already has an object of that name.`)
        continue
      }
      if (engine === 'sqlite' && index.definition) {
        if (!isPlainCreate(index.definition, 'index', index.name, table.name)) {
          throw new FormatError(`The backup's definition of index "${index.name}" is not a plain CREATE INDEX on "${table.name}"; refusing to run it.`, {
            table: table.name,
          })
        }
        create(index.name, index.unique, index.definition)
        continue
      }
      const columnNames = new Set(table.columns.map((c) => c.name))
      if (index.options?.expression || index.options?.partial || index.columns.length === 0 || !index.columns.every((c) => columnNames.has(c))) {
        warnings.push(`Index "${index.name}" of "${table.name}" uses expressions or conditions of another engine: not created.`)
        continue
      }
      create(index.name, index.unique, `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX main.${quoteIdent(index.name)} ON ${quoteIdent(table.name)} (${index.columns.map(quoteIdent).join(', ')})`)
    }
  }

  /**
   * The indexes of created tables left for after their rows (see #createIndexes). The unique
   * ones first: the file then lists its objects (sqlite_schema, `.dump`) in the order it did when
   * they were created before the rows.
   */
  #buildDeferredIndexes(): void {
    const indexes = this.#deferredIndexes
    for (const index of [...indexes.filter((i) => i.unique), ...indexes.filter((i) => !i.unique)]) {
      withErrors(this.#context({ table: index.table, action: 'indexing' }), () => this.#db.prepare(index.sql).run())
    }
    this.#deferredIndexes = []
  }

  /**
   * Empties the selected tables, children before parents. Refuses (UsageError, nothing changed)
   * when a table outside the selection has rows referencing one of them: whatever its ON DELETE
   * action, emptying would change those rows (CASCADE, SET NULL/DEFAULT), fail (RESTRICT) or
   * leave them dangling unless the backup brings every parent back — the same rule on every engine.
   */
  #empty(tables: readonly SqliteTableInfo[], selected: ReadonlySet<string>): string[] {
    const names = new Set(tables.map((t) => asciiLower(t.schema.name)))
    for (const { name } of listTables(this.#db).tables) {
      if (selected.has(asciiLower(name))) continue
      for (const { key } of readForeignKeyList(this.#db, name)) {
        if (!names.has(asciiLower(key.referencedTable))) continue
        const referencing = this.#db
          .prepare(`SELECT 1 FROM main.${quoteIdent(name)} WHERE ${key.columns.map((c) => `${quoteIdent(c)} IS NOT NULL`).join(' AND ')} LIMIT 1`)
          .get()
        if (referencing !== undefined) {
          throw new UsageError(
            `Cannot empty "${key.referencedTable}": table "${name}", which is not being restored, has rows referencing it (${key.name}, ON DELETE ${key.onDelete ?? 'NO ACTION'}), which emptying would cascade into or leave dangling. Restore "${name}" too, or restore without --drop.`,
            { code: 'DROP_REFERENCED', details: { table: key.referencedTable, referencedBy: name, constraint: key.name } },
          )
        }
      }
    }
    const ordered = parentsFirst(tables.map((t) => t.schema)).reverse()
    for (const table of ordered) {
      withErrors(this.#context({ table: table.name, action: 'emptying' }), () => this.#db.prepare(`DELETE FROM main.${quoteIdent(table.name)}`).run())
      this.#touched.add(asciiLower(table.name))
      this.#parentsChanged.add(asciiLower(table.name))
    }
    return tables.map((t) => t.schema.name)
  }

  // ------------------------------------------------------------------------------------------
  // writeRows()

  async #insertKeyed(
    info: SqliteTableInfo,
    batches: AsyncIterable<Row[]>,
    bind: (row: Row) => BoundColumn[],
    keyOf: (row: Row) => unknown,
    skipExisting: boolean,
  ): Promise<WriteResult> {
    const table = quoteIdent(info.schema.name)
    const conflict =
      skipExisting && info.conflictKey && !info.virtual
        ? ` ON CONFLICT (${info.conflictKey.columns.map((c, i) => {
            // The target must name the key's index exactly, collation included.
            const collation = info.conflictKey?.collations[i] ?? 'BINARY'
            return collation.toUpperCase() === 'BINARY' ? quoteIdent(c) : `${quoteIdent(c)} COLLATE ${quoteIdent(collation)}`
          }).join(', ')}) DO NOTHING`
        : ''
    let inserted = 0
    let skipped = 0
    // A virtual table has no UPSERT: an R*Tree row whose id exists is looked up and skipped.
    const keyColumn = info.virtual && skipExisting ? info.conflictKey?.columns[0] : undefined
    const exists =
      keyColumn === undefined
        ? undefined
        : withErrors(this.#context({ table: info.schema.name }), () => this.#db.prepare(`SELECT 1 FROM main.${table} WHERE ${quoteIdent(keyColumn)} = ?`))
    // INSERT statements by bound columns and number of rows (1, or a group of `perGroup`).
    const statements = new Map<BoundColumn[], Map<number, SqliteStatement>>()
    const statementFor = (bound: BoundColumn[], rows: number): SqliteStatement => {
      let byCount = statements.get(bound)
      if (!byCount) statements.set(bound, (byCount = new Map()))
      let statement = byCount.get(rows)
      if (!statement) {
        const tuple = `(${bound.map(() => '?').join(', ')})`
        const sql =
          bound.length === 0
            ? `INSERT INTO main.${table} DEFAULT VALUES`
            : `INSERT INTO main.${table} (${bound.map((b) => quoteIdent(b.target.name)).join(', ')}) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}${conflict}`
        statement = withErrors(this.#context({ table: info.schema.name }), () => this.#db.prepare(sql))
        byCount.set(rows, statement)
      }
      return statement
    }
    /** One row, alone: a failure names its key. */
    const insertOne = (row: Row, bound: BoundColumn[]): void => {
      const params = bound.map((b) => this.#decode(row[b.field], b.kind, b.target, info, row, keyOf))
      const statement = statementFor(bound, 1)
      let changes: number
      try {
        changes = statement.run(...params).changes
      } catch (error) {
        throw toMergebackError(error, this.#context({ table: info.schema.name, key: keyOf(row), action: 'inserting into' }))
      }
      if (changes > 0) inserted++
      else skipped++
    }
    /**
     * Rows with the same columns, in one multi-row INSERT (far fewer statement runs; in order, so
     * a row conflicting with an earlier one of the group is skipped as it would be alone). When
     * it fails, SQLite has undone that statement: the rows then go in one by one, so the error
     * names the row's key (the transaction is rolled back after it anyway).
     */
    const insertGroup = (group: readonly Row[], bound: BoundColumn[]): void => {
      if (group.length < perGroup(bound)) {
        for (const row of group) insertOne(row, bound)
        return
      }
      const params: SqliteValue[] = []
      for (const row of group) for (const b of bound) params.push(this.#decode(row[b.field], b.kind, b.target, info, row, keyOf))
      let changes: number
      try {
        changes = statementFor(bound, group.length).run(...params).changes
      } catch (error) {
        // After SQLITE_FULL, IOERR, … SQLite may have rolled the whole transaction back: then
        // nothing may be written outside it.
        if (!this.#db.inTransaction) throw toMergebackError(error, this.#context({ table: info.schema.name, action: 'inserting into' }))
        for (const row of group) insertOne(row, bound)
        return
      }
      inserted += changes
      skipped += group.length - changes
    }
    // A group may span batches: the reader's batches need not be multiples of a group.
    let group: Row[] = []
    let groupBound: BoundColumn[] | undefined
    for await (const rows of batches) {
      this.#assertOpen()
      for (const row of rows) {
        if (exists && keyColumn !== undefined) {
          const target = this.#column(info, keyColumn, 'key')
          const key = this.#decode(row[keyColumn], target.schema.kind, target, info, row, keyOf)
          if (exists.get(key) !== undefined) {
            skipped++
            continue
          }
          insertOne(row, bind(row))
          continue
        }
        const bound = bind(row)
        if (bound !== groupBound || group.length === perGroup(bound)) {
          if (groupBound) insertGroup(group, groupBound)
          group = []
          groupBound = bound
        }
        group.push(row)
      }
    }
    if (groupBound) insertGroup(group, groupBound)
    return { inserted, skipped }
  }

  /** Whole-row identity for a table without any key (module header, step 3). */
  async #insertKeyless(info: SqliteTableInfo, batches: AsyncIterable<Row[]>, bind: (row: Row) => BoundColumn[]): Promise<WriteResult> {
    const columns = info.columns.filter((c) => !c.generated)
    const context = this.#context({ table: info.schema.name, action: 'inserting into' })
    const temp = `temp.${quoteIdent(TEMP_ROWS)}`
    withErrors(context, () => {
      this.#db.prepare(`DROP TABLE IF EXISTS ${temp}`).run()
      // Same affinities (and defaults) as the target, so a value is stored there exactly as it
      // would be in the table, and equal rows compare equal.
      const definitions = columns.map(
        (c) => `${quoteIdent(c.name)} ${c.affinity}${c.defaultSql !== null ? ` DEFAULT ${c.defaultSql}` : ''}`,
      )
      this.#db.prepare(`CREATE TEMP TABLE ${quoteIdent(TEMP_ROWS)} (mergeback_seq INTEGER PRIMARY KEY, ${definitions.join(', ')})`).run()
    })
    try {
      let total = 0
      const statements = new Map<BoundColumn[], SqliteStatement>()
      for await (const rows of batches) {
        this.#assertOpen()
        for (const row of rows) {
          const bound = bind(row)
          let statement = statements.get(bound)
          if (!statement) {
            const sql =
              bound.length === 0
                ? `INSERT INTO ${temp} DEFAULT VALUES`
                : `INSERT INTO ${temp} (${bound.map((b) => quoteIdent(b.target.name)).join(', ')}) VALUES (${bound.map(() => '?').join(', ')})`
            statement = withErrors(context, () => this.#db.prepare(sql))
            statements.set(bound, statement)
          }
          const params = bound.map((b) => this.#decode(row[b.field], b.kind, b.target, info, row))
          const run = statement
          withErrors(context, () => run.run(...params))
          total++
        }
      }
      const list = columns.map((c) => quoteIdent(c.name)).join(', ')
      const incoming = columns.map((c) => `i.${quoteIdent(c.name)}`).join(', ')
      const matches = columns.map((c) => `e.${quoteIdent(c.name)} IS i.${quoteIdent(c.name)}`).join(' AND ')
      const sql =
        `INSERT INTO main.${quoteIdent(info.schema.name)} (${list}) ` +
        `SELECT ${incoming} FROM (SELECT *, row_number() OVER (PARTITION BY ${list} ORDER BY mergeback_seq) AS mergeback_n FROM ${temp}) AS i ` +
        `LEFT JOIN (SELECT ${list}, count(*) AS mergeback_count FROM main.${quoteIdent(info.schema.name)} GROUP BY ${list}) AS e ON ${matches} ` +
        `WHERE i.mergeback_n > coalesce(e.mergeback_count, 0) ORDER BY i.mergeback_seq`
      const inserted = withErrors(context, () => this.#db.prepare(sql).run().changes)
      return { inserted, skipped: total - inserted }
    } finally {
      if (this.#db.open && this.#state === 'open') withErrors(context, () => this.#db.prepare(`DROP TABLE IF EXISTS ${temp}`).run())
    }
  }

  /** Maps row fields onto writable target columns. A field the table lacks is a UsageError. */
  #bindFields(info: SqliteTableInfo, fields: readonly string[], backupKind: (field: string) => ValueKind | undefined): BoundColumn[] {
    const bound: BoundColumn[] = []
    for (const field of fields) {
      const target = this.#findColumn(info, field)
      if (!target) {
        throw new UsageError(`Table "${info.schema.name}" in ${this.#file} has no column "${field}", which the backup's rows have.`, {
          code: 'SCHEMA_MISMATCH',
          details: { table: info.schema.name, column: field },
        })
      }
      if (target.generated) continue
      bound.push({ field, target, kind: backupKind(field) ?? target.schema.kind })
    }
    return bound
  }

  /** Decodes one wire value for a column, turning refusals into errors that name table, column and key. */
  #decode(
    value: WireValue | undefined,
    kind: ValueKind,
    target: SqliteColumnInfo,
    info: SqliteTableInfo,
    row: Row,
    keyOf?: (row: Row) => unknown,
  ): SqliteValue {
    try {
      return decodeValue(value, kind, target.affinity as Affinity)
    } catch (error) {
      if (!(error instanceof ValueDecodeError)) throw error
      const key = keyOf?.(row)
      const where = `column "${target.name}" of table "${info.schema.name}"${key === undefined ? '' : ` (key ${JSON.stringify(key)})`}`
      if (error.reason === 'malformed') {
        throw new FormatError(`Bad value in ${where}: ${error.message}.`, { table: info.schema.name, cause: error, details: { column: target.name, key } })
      }
      throw new DatabaseError(`Cannot write ${where} exactly: ${error.message}.`, {
        table: info.schema.name,
        key,
        cause: error,
        details: { column: target.name },
      })
    }
  }

  // ------------------------------------------------------------------------------------------
  // finish()

  /** Triggers of a table this session created from a SQLite backup (its counter: #carrySequences). */
  #restoreTableExtras(table: TableSchema): void {
    const options = table.options as Partial<SqliteTableOptions> | undefined
    if (!options || typeof options.sql !== 'string') return
    for (const trigger of options.triggers ?? []) {
      const name = /^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|\[[^\]]+\]|`(?:[^`]|``)+`|[^\s(]+)/i.exec(trigger)?.[1]
      const plain = name !== undefined && isPlainCreate(trigger, 'trigger', unquoteName(name), table.name)
      if (!plain) {
        throw new FormatError(`A trigger the backup gives for "${table.name}" is not a plain CREATE TRIGGER on that table; refusing to run it.`, {
          table: table.name,
        })
      }
      withErrors(this.#context({ table: table.name, action: 'creating a trigger on' }), () => this.#db.prepare(trigger).run())
    }
  }

  /**
   * External-content full-text indexes (FTS4/5 `content=table`) of tables this session wrote are
   * rebuilt: the triggers that keep them in step were off during the write (prepare drops and
   * re-creates them), and a restore or merge must not leave search blind to what it wrote.
   */
  #rebuildFullTextIndexes(): void {
    for (const name of listTables(this.#db).virtual) {
      const { module, content } = fullTextContent(this.#db, name)
      if (!module || module === 'fts3' || !content || !this.#touched.has(asciiLower(content))) continue
      withErrors(this.#context({ table: name, action: 'rebuilding the full-text index' }), () =>
        this.#db.prepare(`INSERT INTO main.${quoteIdent(name)} (${quoteIdent(name)}) VALUES ('rebuild')`).run(),
      )
    }
  }

  /**
   * The AUTOINCREMENT counters (`sqlite_sequence`) of a SQLite backup's tables, carried into every
   * table written that is AUTOINCREMENT here too, created or existing, restore or merge: the
   * counter becomes the larger of its own and the backup's, so ids the source handed out and
   * deleted are not handed out again, and a counter is never moved back.
   */
  #carrySequences(): void {
    if (this.#sequences.size === 0 || !tableExists(this.#db, 'sqlite_sequence')) return
    for (const [name, sequence] of this.#sequences) {
      const info = this.#info(name)
      if (!info || !this.#touched.has(asciiLower(info.schema.name))) continue
      const sql = (this.#db.prepare(`SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?`).get(info.schema.name) as { sql: string | null } | undefined)?.sql
      if (!sql || !/\bAUTOINCREMENT\b/i.test(sql)) continue
      withErrors(this.#context({ table: info.schema.name, action: 'carrying the AUTOINCREMENT counter of' }), () => {
        const update = this.#db.prepare('UPDATE main.sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(sequence, info.schema.name)
        if (update.changes === 0) this.#db.prepare('INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)').run(info.schema.name, sequence)
      })
    }
  }

  /** Fails with the first foreign-key violation this session introduced (module header, step 5). */
  #checkForeignKeys(): void {
    for (const table of this.#tablesToCheck(this.#touched, this.#parentsChanged)) {
      const before = this.#baseline.get(table) ?? []
      const known = new Set(before.filter((v) => v.rowid !== null).map((v) => `${v.fkid}:${v.rowid}`))
      const knownWithoutRowid = new Map<number, number>()
      for (const v of before) if (v.rowid === null) knownWithoutRowid.set(v.fkid, (knownWithoutRowid.get(v.fkid) ?? 0) + 1)
      const fresh = this.#violations(table).filter((v) => {
        if (v.rowid !== null) return !known.has(`${v.fkid}:${v.rowid}`)
        const left = knownWithoutRowid.get(v.fkid) ?? 0
        knownWithoutRowid.set(v.fkid, left - 1)
        return left <= 0
      })
      if (fresh.length > 0) throw this.#violationError(fresh[0], fresh.length)
    }
  }

  #violationError(violation: Violation, count: number): DatabaseError {
    const info = this.#requireInfo(violation.table)
    const key = readForeignKeyList(this.#db, info.schema.name).find((k) => k.id === violation.fkid)?.key
    if (!key) throw new InternalError(`foreign_key_check reported key ${violation.fkid} of "${violation.table}", which foreign_key_list does not have`)
    const table = quoteIdent(info.schema.name)
    const keyColumns = info.schema.primaryKey.length > 0 ? info.schema.primaryKey : key.columns
    const wanted = [...keyColumns, ...key.columns]
    const select = `SELECT ${wanted.map(quoteIdent).join(', ')} FROM main.${table} AS c`
    const values = (
      violation.rowid !== null
        ? this.#db.prepare(`${select} WHERE c.rowid = ?`).raw(true).get(violation.rowid)
        : this.#db
            .prepare(
              `${select} WHERE ${key.columns.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(' AND ')} AND NOT EXISTS (SELECT 1 FROM main.${quoteIdent(key.referencedTable)} AS p WHERE ${key.columns.map((c, i) => `p.${quoteIdent(key.referencedColumns[i])} = c.${quoteIdent(c)}`).join(' AND ')})`,
            )
            .raw(true)
            .get()
    ) as SqliteValue[] | undefined
    const wire = (name: string, i: number): WireValue => {
      const column = info.byName.get(name)
      return values ? encodeValue(values[i], column?.schema.kind ?? 'unknown') : null
    }
    const rowKey = keyColumns.length === 1 ? wire(keyColumns[0], 0) : Object.fromEntries(keyColumns.map((c, i) => [c, wire(c, i)]))
    const references = key.columns.map((c, i) => wire(c, keyColumns.length + i))
    const others = count > 1 ? ` (${count} rows in all)` : ''
    return new DatabaseError(
      `Foreign key ${key.name} failed in table "${info.schema.name}": the row with key ${JSON.stringify(rowKey)} references "${key.referencedTable}"(${key.referencedColumns.join(', ')}) = ${JSON.stringify(references.length === 1 ? references[0] : references)}, which does not exist${others}.`,
      { engineCode: 'SQLITE_CONSTRAINT_FOREIGNKEY', table: info.schema.name, key: rowKey, constraint: key.name },
    )
  }

  /** `tables`, plus every table with a foreign key into one of `parents` (ASCII-lowercased names). */
  #tablesToCheck(tables: ReadonlySet<string>, parents: ReadonlySet<string>): string[] {
    const result = new Set<string>()
    for (const { name } of listTables(this.#db).tables) {
      const lowered = asciiLower(name)
      if (tables.has(lowered)) result.add(lowered)
      else if (parents.size > 0 && readForeignKeyList(this.#db, name).some((k) => parents.has(asciiLower(k.key.referencedTable)))) result.add(lowered)
    }
    return [...result]
  }

  #violations(table: string): Violation[] {
    const info = this.#info(table)
    if (!info || info.schema.foreignKeys.length === 0) return []
    return (
      this.#db.prepare(`PRAGMA main.foreign_key_check(${quoteIdent(info.schema.name)})`).all() as {
        table: string
        rowid: bigint | null
        parent: string
        fkid: bigint
      }[]
    ).map((v) => ({ table: v.table, rowid: v.rowid, parent: v.parent, fkid: Number(v.fkid) }))
  }

  // ------------------------------------------------------------------------------------------
  // helpers

  #info(table: string): SqliteTableInfo | undefined {
    const key = asciiLower(table)
    if (!this.#infos.has(key)) this.#infos.set(key, readTableInfo(this.#db, table) ?? null)
    return this.#infos.get(key) ?? undefined
  }

  #requireInfo(table: string): SqliteTableInfo {
    const info = withErrors(this.#context({ table }), () => this.#info(table))
    if (!info) throw new UsageError(`Table "${table}" does not exist in ${this.#file}.`, { code: 'UNKNOWN_TABLE' })
    return info
  }

  /** SQLite column names are case-insensitive (ASCII), like table names. */
  #findColumn(info: SqliteTableInfo, name: string): SqliteColumnInfo | undefined {
    return info.byName.get(name) ?? info.columns.find((c) => asciiLower(c.name) === asciiLower(name))
  }

  #column(info: SqliteTableInfo, name: string, role: string): SqliteColumnInfo {
    const column = this.#findColumn(info, name)
    if (!column) throw new UsageError(`Table "${info.schema.name}" in ${this.#file} has no ${role} column "${name}".`, { code: 'SCHEMA_MISMATCH' })
    return column
  }

  #context(extra: Omit<ErrorContext, 'file'> = {}): ErrorContext {
    return { file: this.#file, ...extra }
  }

  #assertOpen(): void {
    if (this.#state !== 'open') {
      throw new UsageError(`The SQLite destination ${this.#file} is ${this.#state === 'committed' ? 'committed' : this.#state === 'closed' ? 'closed' : 'rolled back'}: it takes no more work.`)
    }
  }

  #assertPrepared(): void {
    this.#assertOpen()
    if (!this.#prepared) throw new UsageError('Call prepare() before writing.')
  }
}

/**
 * Whether the file holds nothing yet (a new or empty file). Its foreign keys are then not enforced
 * row by row (module header, step 1): every table written is one this session creates, so no
 * row of it can refer to or be referred to by a row already there, and nothing is updated or
 * deleted (a merge needs existing tables, `drop` empties none), so the keys have no action to
 * take; finish() checks every table written (foreign_key_check) before the commit. Enforced,
 * each inserted row would look its parents up (a B-tree descent per key) only to count the
 * violations finish() finds anyway.
 */
function isEmptyDatabase(db: SqliteDatabase): boolean {
  return db.prepare('SELECT 1 FROM main.sqlite_schema LIMIT 1').get() === undefined
}

/** Rows per multi-row INSERT for these bound columns (1 for DEFAULT VALUES). */
function perGroup(bound: readonly BoundColumn[]): number {
  return bound.length === 0 ? 1 : Math.max(1, Math.min(ROWS_PER_INSERT, Math.floor(MAX_PARAMETERS / bound.length)))
}

/**
 * Whether the row's fields are `fields` (its Object.keys of an earlier row), in that order.
 * `for … in` lists the same own fields in the same order, then any inherited ones, which make
 * the answer false.
 */
function sameFields(row: Row, fields: readonly string[]): boolean {
  let i = 0
  for (const field in row) {
    if (field !== fields[i]) return false
    i++
  }
  return i === fields.length
}

/** Reads a row's key (one value, or an object for a composite key) for error messages. */
function keyReader(columns: readonly string[]): (row: Row) => unknown {
  if (columns.length === 0) return () => undefined
  if (columns.length === 1) return (row) => row[columns[0]]
  return (row) => Object.fromEntries(columns.map((c) => [c, row[c] ?? null]))
}

function foreignKeyClause(key: ForeignKeySchema): string {
  let clause = `CONSTRAINT ${quoteIdent(key.name)} FOREIGN KEY (${key.columns.map(quoteIdent).join(', ')}) REFERENCES ${quoteIdent(key.referencedTable)} (${key.referencedColumns.map(quoteIdent).join(', ')})`
  const onDelete = key.onDelete?.toUpperCase()
  const onUpdate = key.onUpdate?.toUpperCase()
  if (onDelete && FK_ACTIONS.has(onDelete) && onDelete !== 'NO ACTION') clause += ` ON DELETE ${onDelete}`
  if (onUpdate && FK_ACTIONS.has(onUpdate) && onUpdate !== 'NO ACTION') clause += ` ON UPDATE ${onUpdate}`
  if (key.deferrable) clause += ' DEFERRABLE INITIALLY DEFERRED'
  return clause
}

/** Orders tables so that a table comes after the tables it references (cycles keep their order). */
function parentsFirst(tables: readonly TableSchema[]): TableSchema[] {
  const byName = new Map(tables.map((t) => [asciiLower(t.name), t]))
  const done = new Set<string>()
  const visiting = new Set<string>()
  const ordered: TableSchema[] = []
  const visit = (table: TableSchema): void => {
    const name = asciiLower(table.name)
    if (done.has(name) || visiting.has(name)) return
    visiting.add(name)
    for (const key of table.foreignKeys) {
      const parent = byName.get(asciiLower(key.referencedTable))
      if (parent) visit(parent)
    }
    visiting.delete(name)
    done.add(name)
    ordered.push(table)
  }
  for (const table of tables) visit(table)
  return ordered
}

function unquoteName(token: string): string {
  const first = token[0]
  if (first === '"' || first === '`') return token.slice(1, -1).replaceAll(first + first, first)
  if (first === '[') return token.slice(1, -1)
  return token
}

