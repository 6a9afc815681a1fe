/**
 * Restore on several sessions, still all-or-nothing (issue #17; docs/performance.md "Round three").
 *
 * One transaction means one server process: the single-session restore (postgres-destination.ts)
 * cannot use the server's second core, and builds each table's keys while nothing loads. Here the
 * tables a restore creates are built in a staging schema, `_mb_stage_<run id>`, that nobody else
 * uses, then moved into the target schema in one short transaction:
 *
 *   1. control session: remove leftovers of dead runs; take the run's advisory lock (held until
 *      the end, released by the server whatever ends the session); in one transaction CREATE
 *      SCHEMA, the enum types the tables need, and the tables (no keys yet); COMMIT;
 *   2. `jobs` loading sessions: each table, in file order, starts loading on a free session, and
 *      every other session joins that table's load as soon as it is free; each one runs BEGIN,
 *      COPY of the chunks it takes (SharedSource), COMMIT. Once all parts have committed, one
 *      session builds the primary key, unique constraints and indexes while the next table
 *      loads on the others, as `pg_restore -j` does;
 *   3. control session, as soon as both ends are loaded: the foreign keys between staged tables
 *      (ADD CONSTRAINT validates them); after the last load, sequences past the data;
 *   4. control session, one transaction: `ALTER TYPE … SET SCHEMA` and `ALTER TABLE … SET SCHEMA`
 *      of everything staged (indexes, constraints and owned sequences follow their table, under
 *      the same names a single-session restore gives them, since the tables have their real
 *      names), the foreign keys to tables outside the restore, DROP SCHEMA of the now empty
 *      staging schema, COMMIT.
 *
 * Any failure before that COMMIT (a bad row, a duplicate key, a foreign-key violation, a checksum
 * mismatch found at the end of the file) terminates the loading sessions and drops the staging
 * schema: the target schema was never touched. A process killed meanwhile leaves the staging
 * schema behind, and only that: `removeLeftovers` drops it for the next staged restore and for
 * `mergeback recover`, once the run's advisory lock is free.
 *
 * Staged only when every selected table is new in the target schema and the backup was made by
 * PostgreSQL with nothing but tables and enums to create; otherwise prepare() answers undefined
 * and the restore takes the single-session path (restores into existing tables, `--drop`,
 * partitioned tables, composite/range types, domains, extensions, schema-qualified type names).
 *
 * @module
 */
import type pg from 'pg'
import type { ConnectionConfig, DatabaseSchema, ForeignKeySchema, PrepareResult, RecoverReport, StagedRestore, TableSchema, WriteResult } from '../adapter.js'
import { DatabaseError, InternalError } from '../../errors.js'
import { SharedSource } from '../shared-source.js'
import { RUN_ID_LENGTH, STAGE_PREFIX, newRunId, runLockName } from '../staging.js'
import { copyFromStdin, createMissingEnums, openSession, toDatabaseError, type ErrorContext } from './postgres-connection.js'
import { COPY_OUTPUT_BYTES, copyTextOfLines, stagedLineConverter } from './postgres-destination.js'
import { ChunkPool, releaseChunk } from '../../engine/buffer-reclaim.js'
import type { LineConverter } from '../../format/reader.js'
import { introspect, type PgTable } from './postgres-introspector.js'
import { createTableDdl, foreignKeySql, qualify, quoteIdent, quoteLiteral } from './postgres-sql.js'

const LEFTOVER_SCHEMA = new RegExp(`^${STAGE_PREFIX}[a-z0-9]{${RUN_ID_LENGTH}}$`)

/** The statement that takes (or tries) a run's advisory lock. */
const lockKey = (runId: string): string => `pg_catalog.hashtext(${quoteLiteral(runLockName(runId))})`

interface Session {
  readonly client: pg.Client
  /** The tasks queued on this session, run one after the other. */
  tail: Promise<void>
  pending: number
}

type State = 'new' | 'prepared' | 'committed' | 'rolled-back' | 'closed'

export class PostgresStagedRestore implements StagedRestore {
  readonly #config: ConnectionConfig
  readonly #schema: string
  readonly #runId = newRunId()
  readonly #staging: string
  readonly #control: Session
  readonly #loaders: Session[]
  #state: State = 'new'
  #locked = false
  /** Staging tables as introspected after creation. */
  #tables = new Map<string, PgTable>()
  #backup = new Map<string, TableSchema>()
  /** Keys and indexes of each staged table, built after its rows (createTableDdl afterData). */
  readonly #afterData = new Map<string, readonly string[]>()
  /** Foreign keys between staged tables, added once both are loaded; and those to tables outside, added in the swap. */
  #inner: { table: string; foreignKey: ForeignKeySchema; scheduled: boolean }[] = []
  #outer: { table: string; foreignKey: ForeignKeySchema }[] = []
  readonly #loaded = new Set<string>()
  #failure: { error: unknown } | undefined
  /**
   * The converters' output (a batch's COPY text), given back by the loading session once its
   * socket has written it: a new 1.25 MiB Buffer per batch cost mark-compacts (docs/performance.md,
   * "Round fourteen: PostgreSQL restore, converter output buffers"). A few are in use at once
   * (one in each session's COPY stream and socket, one read ahead, one being filled).
   */
  readonly #outputs = new ChunkPool(COPY_OUTPUT_BYTES)

  private constructor(config: ConnectionConfig, control: pg.Client, loaders: pg.Client[]) {
    this.#config = config
    this.#schema = config.schema ?? 'public'
    this.#staging = `${STAGE_PREFIX}${this.#runId}`
    const session = (client: pg.Client): Session => ({ client, tail: Promise.resolve(), pending: 0 })
    this.#control = session(control)
    this.#loaders = loaders.map(session)
  }

  static async open(config: ConnectionConfig, jobs: number): Promise<PostgresStagedRestore> {
    const clients: pg.Client[] = []
    try {
      for (let i = 0; i <= jobs; i++) clients.push(await openSession(config))
    } catch (error) {
      for (const client of clients) await client.end().catch(() => {})
      throw error
    }
    const [control, ...loaders] = clients
    const staged = new PostgresStagedRestore(config, control!, loaders)
    // Unqualified type names of the backup's DDL resolve (and enums are created) in the staging schema first.
    const path = `SET search_path = ${quoteIdent(staged.#staging)}, ${quoteIdent(staged.#schema)}`
    try {
      for (const client of clients) await client.query(path)
    } catch (error) {
      await staged.close()
      throw toDatabaseError(error, { action: 'opening the loading sessions' })
    }
    return staged
  }

  async prepare(backup: DatabaseSchema): Promise<PrepareResult | undefined> {
    if (this.#state !== 'new') throw new InternalError(`Cannot prepare: the staged restore is ${this.#state}.`)
    const control = this.#control.client
    const context: ErrorContext = { action: 'preparing a staged restore' }
    const warnings: string[] = []
    const leftovers = await removeLeftovers(control, { waitSeconds: 0 })
    if (leftovers.removed.length > 0) warnings.push(`Removed ${leftovers.removed.length} staging table(s) left by an interrupted restore: ${leftovers.removed.join(', ')}.`)
    if (!(await this.#stageable(backup))) return undefined

    const taken = await this.#run(control, {
      text: `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
      values: [this.#schema],
    }, context)
    const takenNames = new Set((taken.rows as { relname: string }[]).map((r) => r.relname))
    const staged = new Set(backup.tables.map((t) => t.name))
    await this.#run(control, { text: `SELECT pg_catalog.pg_advisory_lock(${lockKey(this.#runId)})` }, context)
    this.#locked = true
    await this.#run(control, { text: 'BEGIN' }, context)
    try {
      try {
        await this.#run(control, { text: `CREATE SCHEMA ${quoteIdent(this.#staging)}` }, context)
      } catch (error) {
        // No right to create a schema: the single-session path needs none.
        if (error instanceof DatabaseError && error.engineCode === '42501') {
          await this.#run(control, { text: 'ROLLBACK' }, context)
          return undefined
        }
        throw error
      }
      await this.#createEnums(backup.tables, warnings)
      for (const table of backup.tables) {
        const ddl = createTableDdl(table, 'postgres', this.#staging, takenNames, { keysAfterData: true })
        warnings.push(...ddl.warnings)
        this.#afterData.set(table.name, ddl.afterData)
        for (const statement of ddl.statements) {
          await this.#run(control, { text: statement, queryMode: 'extended' }, { action: 'creating the table', table: table.name })
        }
        for (const foreignKey of table.foreignKeys) {
          if (staged.has(foreignKey.referencedTable)) this.#inner.push({ table: table.name, foreignKey, scheduled: false })
          else if (takenNames.has(foreignKey.referencedTable)) this.#outer.push({ table: table.name, foreignKey })
          else {
            warnings.push(
              `Foreign key "${foreignKey.name}" of "${table.name}" is not created: table "${foreignKey.referencedTable}" is neither in ${this.#where()} nor in the backup.`,
            )
          }
        }
      }
      await this.#run(control, { text: 'COMMIT' }, context)
    } catch (error) {
      await control.query('ROLLBACK').catch(() => {})
      throw error
    }
    this.#state = 'prepared'
    this.#backup = new Map(backup.tables.map((t) => [t.name, t]))
    try {
      this.#tables = new Map((await introspect(control, this.#staging)).tables.map((t) => [t.schema.name, t]))
    } catch (error) {
      throw toDatabaseError(error, { action: 'describing the staging tables' })
    }
    return { created: backup.tables.map((t) => t.name), emptied: [], warnings }
  }

  lineConverter(table: TableSchema): LineConverter | undefined {
    this.#assertPrepared('write rows')
    const target = this.#tables.get(table.name)
    return target === undefined ? undefined : stagedLineConverter(table, target, this.#outputs)
  }

  async writeRecordLines(table: TableSchema, chunks: AsyncIterable<Buffer>, converted = false): Promise<WriteResult> {
    this.#assertPrepared('write rows')
    this.#throwFailure()
    const target = this.#tables.get(table.name)
    if (target === undefined) throw new InternalError(`"${table.name}" is not a staged table.`)
    const first = await this.#freeLoader()
    this.#throwFailure()
    const { columns, lines } = copyTextOfLines(table, target, chunks, converted)
    // The COPY text is shared between the loading sessions: the first free one starts, each of the
    // others joins as soon as it is free (done building an earlier table's keys), and each takes
    // the next chunk when it is ready for one; the keys are built once every part has committed.
    const source = new SharedSource(lines)
    const parts: Promise<number>[] = []
    const context: ErrorContext = { action: 'writing rows', table: table.name }
    const load = async (session: Session): Promise<void> => {
      if (source.exhausted) return
      try {
        this.#throwFailure()
      } catch (error) {
        source.fail(error)
        throw error
      }
      const part = this.#copyPart(session.client, table.name, columns, source, context)
      parts.push(part)
      try {
        await part
      } catch (error) {
        // The failure that stopped the other parts is reported by the part it happened in.
        if (error !== source.stopped) throw error
      }
    }
    this.#enqueue(first, () => load(first))
    for (const other of this.#loaders) if (other !== first) this.#enqueue(other, () => load(other))
    await source.settled
    // Every part has started by now: a session that gets to its turn later finds nothing left to read.
    const results = await Promise.allSettled(parts)
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason !== source.stopped)
    if (failed !== undefined) throw failed.reason
    const failure = source.failure
    if (failure !== undefined) throw failure.error
    const inserted = results.reduce((sum, r) => sum + (r.status === 'fulfilled' ? r.value : 0), 0)

    const keys = await this.#freeLoader()
    this.#enqueue(keys, async () => {
      this.#throwFailure()
      await this.#buildKeys(keys.client, table.name)
      this.#loaded.add(table.name)
      this.#scheduleForeignKeys()
    })
    return { inserted, skipped: 0 }
  }

  async commit(): Promise<void> {
    this.#assertPrepared('commit')
    // A table the restore never wrote (the caller's selection had no records section) still gets its keys.
    for (const name of this.#backup.keys()) {
      if (this.#loaded.has(name) || this.#afterData.get(name) === undefined) continue
      const session = await this.#freeLoader()
      this.#enqueue(session, async () => {
        this.#throwFailure()
        await this.#buildKeys(session.client, name)
        this.#loaded.add(name)
        this.#scheduleForeignKeys()
      })
    }
    await this.#settled()
    this.#throwFailure()
    const control = this.#control.client
    await this.#moveSequences()
    const context: ErrorContext = { action: 'moving the staged tables into place' }
    await this.#run(control, { text: 'BEGIN' }, context)
    try {
      const types = await this.#run(control, {
        text: `SELECT t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typtype = 'e' ORDER BY 1`,
        values: [this.#staging],
      }, context)
      for (const { typname } of types.rows as { typname: string }[]) {
        await this.#run(control, { text: `ALTER TYPE ${qualify(this.#staging, typname)} SET SCHEMA ${quoteIdent(this.#schema)}` }, context)
      }
      for (const name of this.#backup.keys()) {
        await this.#run(control, { text: `ALTER TABLE ${qualify(this.#staging, name)} SET SCHEMA ${quoteIdent(this.#schema)}` }, { ...context, table: name })
      }
      for (const { table, foreignKey } of this.#outer) {
        await this.#run(control, { text: foreignKeySql(this.#schema, table, foreignKey), queryMode: 'extended' }, { action: `adding foreign key "${foreignKey.name}"`, table })
      }
      await this.#run(control, { text: `DROP SCHEMA ${quoteIdent(this.#staging)}` }, context)
      await this.#run(control, { text: 'COMMIT' }, { action: 'committing' })
    } catch (error) {
      await control.query('ROLLBACK').catch(() => {})
      throw error
    }
    this.#state = 'committed'
    await this.#unlock()
  }

  async rollback(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'rolled-back' || this.#state === 'closed') return
    const wasPrepared = this.#state === 'prepared'
    this.#state = 'rolled-back'
    const control = this.#control.client
    await control.query('ROLLBACK').catch(() => {})
    if (wasPrepared) {
      // The loading sessions may be in the middle of a COPY or an index build: end them, so that
      // their locks on the staging tables go now, not when that statement would have finished.
      const pids = this.#loaders.map((s) => (s.client as unknown as { processID?: number }).processID).filter((pid): pid is number => typeof pid === 'number')
      if (pids.length > 0) await control.query('SELECT pg_catalog.pg_terminate_backend(pid) FROM unnest($1::int[]) AS p(pid)', [pids]).catch(() => {})
      for (const loader of this.#loaders) await loader.client.end().catch(() => {})
      await this.#control.tail
      await control.query(`DROP SCHEMA IF EXISTS ${quoteIdent(this.#staging)} CASCADE`).catch(() => {})
    }
    await this.#unlock()
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return
    await this.rollback()
    this.#state = 'closed'
    for (const session of [this.#control, ...this.#loaders]) await session.client.end().catch(() => {})
  }

  // -- prepare ---------------------------------------------------------------------------------

  /** Whether every table is new here and needs nothing created but enums (module comment). */
  async #stageable(backup: DatabaseSchema): Promise<boolean> {
    if (backup.engine !== 'postgres' || backup.tables.length === 0) return false
    for (const table of backup.tables) {
      const options = table.options ?? {}
      if (options.partitioned || options.partitionReferences) return false
      for (const key of ['types', 'domains', 'extensions']) {
        const list = options[key]
        if (Array.isArray(list) && list.length > 0) return false
      }
      for (const column of table.columns) {
        const name = enumName(column)
        if (name !== undefined && name.replace(/"(?:[^"]|"")*"/g, '').includes('.')) return false
      }
    }
    const found = await this.#run(this.#control.client, {
      text: `SELECT n.oid IS NOT NULL AS schema_exists,
                    EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid AND c.relname = ANY($2::text[])) AS clash
               FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1`,
      values: [this.#schema, backup.tables.map((t) => t.name)],
    }, { action: 'preparing a staged restore' })
    const row = found.rows[0] as { schema_exists: boolean; clash: boolean | null }
    return row.schema_exists && row.clash !== true
  }

  /** The enum types the columns use, unless they exist (in the staging or the target schema): as the single-session restore does. */
  async #createEnums(tables: readonly TableSchema[], warnings: string[]): Promise<void> {
    const wanted = new Map<string, readonly string[]>()
    for (const table of tables) {
      for (const column of table.columns) {
        const name = enumName(column)
        if (name !== undefined && column.enumValues && !wanted.has(name)) wanted.set(name, column.enumValues)
      }
    }
    const control = this.#control.client
    await createMissingEnums((query, context) => this.#run(control, query, context), wanted, warnings)
  }

  // -- loading ---------------------------------------------------------------------------------

  /**
   * One session's share of a table's rows, in a transaction of its own: the staging schema, not
   * the transaction, keeps the restore all-or-nothing (a failure anywhere drops it).
   */
  async #copyPart(client: pg.Client, table: string, columns: readonly string[], source: SharedSource<Buffer | string>, context: ErrorContext): Promise<number> {
    await this.#run(client, { text: 'BEGIN' }, context)
    try {
      const rows = await copyFromStdin(client, qualify(this.#staging, table), columns, source.reader(), context, releaseChunk)
      await this.#run(client, { text: 'COMMIT' }, context)
      return rows
    } catch (error) {
      source.fail(source.stopped)
      await client.query('ROLLBACK').catch(() => {})
      throw error
    }
  }

  async #buildKeys(client: pg.Client, name: string): Promise<void> {
    const statements = this.#afterData.get(name) ?? []
    this.#afterData.delete(name)
    for (const statement of statements) await this.#run(client, { text: statement, queryMode: 'extended' }, { action: 'building keys and indexes', table: name })
  }

  /** Queues, on the control session, each foreign key between staged tables whose two tables are loaded. */
  #scheduleForeignKeys(): void {
    for (const entry of this.#inner) {
      if (entry.scheduled || !this.#loaded.has(entry.table) || !this.#loaded.has(entry.foreignKey.referencedTable)) continue
      entry.scheduled = true
      this.#enqueue(this.#control, () => {
        this.#throwFailure()
        return this.#run(this.#control.client, { text: foreignKeySql(this.#staging, entry.table, entry.foreignKey), queryMode: 'extended' }, {
          action: `adding foreign key "${entry.foreignKey.name}"`,
          table: entry.table,
        }).then(() => undefined)
      })
    }
  }

  /** Moves the sequences of serial and identity columns past the highest value loaded (never backwards). */
  async #moveSequences(): Promise<void> {
    const control = this.#control.client
    for (const table of this.#backup.values()) {
      for (const column of table.columns) {
        if (!column.autoIncrement && column.identity === undefined) continue
        const context: ErrorContext = { action: 'moving sequences', table: table.name }
        const found = await this.#run(control, { text: 'SELECT pg_catalog.pg_get_serial_sequence($1, $2) AS seq', values: [qualify(this.#staging, table.name), column.name] }, context)
        const sequence = (found.rows[0] as { seq: string | null }).seq
        if (sequence === null) continue
        await this.#run(control, {
          text: `SELECT pg_catalog.setval($1::regclass, m.v)
                   FROM (SELECT max(${quoteIdent(column.name)})::bigint AS v FROM ${qualify(this.#staging, table.name)}) AS m, pg_catalog.pg_sequence s
                  WHERE s.seqrelid = $1::regclass AND s.seqincrement > 0 AND m.v IS NOT NULL
                    AND m.v >= COALESCE(pg_catalog.pg_sequence_last_value($1::regclass) + 1, s.seqstart)`,
          values: [sequence],
        }, { action: `moving sequence ${sequence}`, table: table.name })
      }
    }
  }

  // -- sessions --------------------------------------------------------------------------------

  #enqueue(session: Session, task: () => Promise<void>): void {
    session.pending++
    session.tail = session.tail
      // Every task runs, even after a failure elsewhere: each checks for one first (a load's caller waits for its answer).
      .then(task)
      .catch((error: unknown) => {
        this.#failure ??= { error }
      })
      .finally(() => {
        session.pending--
      })
  }

  /** A loading session with nothing queued, waiting for one when all are busy. */
  async #freeLoader(): Promise<Session> {
    for (;;) {
      const free = this.#loaders.find((s) => s.pending === 0)
      if (free !== undefined) return free
      await Promise.race(this.#loaders.map((s) => s.tail))
    }
  }

  /** Waits until no session has anything queued (tasks may queue more on the control session). */
  async #settled(): Promise<void> {
    for (;;) {
      const sessions = [this.#control, ...this.#loaders]
      if (sessions.every((s) => s.pending === 0)) return
      await Promise.all(sessions.map((s) => s.tail))
    }
  }

  #throwFailure(): void {
    if (this.#failure !== undefined) throw this.#failure.error
  }

  async #unlock(): Promise<void> {
    if (!this.#locked) return
    this.#locked = false
    await this.#control.client.query(`SELECT pg_catalog.pg_advisory_unlock(${lockKey(this.#runId)})`).catch(() => {})
  }

  #assertPrepared(what: string): void {
    if (this.#state !== 'prepared') throw new InternalError(`Cannot ${what}: the staged restore is ${this.#state}.`)
  }

  #where(): string {
    return `schema "${this.#schema}" of database "${this.#config.database}"`
  }

  async #run(client: pg.Client, query: pg.QueryConfig & { queryMode?: 'extended' }, context: ErrorContext): Promise<pg.QueryResult> {
    try {
      return await client.query(query as pg.QueryConfig)
    } catch (error) {
      throw toDatabaseError(error, context)
    }
  }
}

/** The enum type a column of a PostgreSQL backup uses, as the single-session restore names it. */
function enumName(column: TableSchema['columns'][number]): string | undefined {
  const isEnum = column.kind === 'enum' || (column.kind === 'array' && column.elementKind === 'enum')
  if (!isEnum || !column.enumValues) return undefined
  return column.enumName ?? column.type.replace(/\[\]$/, '')
}

/**
 * Drops the staging schemas of staged restores that died (their advisory lock is free), with
 * everything in them; leaves those of live runs. `waitSeconds`: how long to wait for a lock still
 * held (a killed client's session the server has not yet noticed closing). Reports the staging
 * tables as `schema.table` (a schema holding none as `schema`).
 */
export async function removeLeftovers(client: pg.Client, options: { readonly waitSeconds?: number; readonly dryRun?: boolean } = {}): Promise<RecoverReport> {
  const context: ErrorContext = { action: 'removing what interrupted restores left' }
  let rows: { nspname: string; relname: string | null }[]
  try {
    rows = (
      await client.query(
        `SELECT n.nspname, c.relname FROM pg_catalog.pg_namespace n
           LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
          WHERE n.nspname LIKE '\\_mb\\_stage\\_%' ORDER BY 1, 2`,
      )
    ).rows as { nspname: string; relname: string | null }[]
  } catch (error) {
    throw toDatabaseError(error, context)
  }
  const bySchema = new Map<string, string[]>()
  for (const row of rows) {
    if (!LEFTOVER_SCHEMA.test(row.nspname)) continue
    const list = bySchema.get(row.nspname) ?? []
    if (row.relname !== null) list.push(`${row.nspname}.${row.relname}`)
    bySchema.set(row.nspname, list)
  }
  const found: string[] = []
  const removed: string[] = []
  const busy: string[] = []
  for (const [schema, tables] of bySchema) {
    const names = tables.length > 0 ? tables : [schema]
    found.push(...names)
    const key = lockKey(schema.slice(STAGE_PREFIX.length))
    let got: boolean
    try {
      if ((options.waitSeconds ?? 0) > 0) {
        await client.query(`SET lock_timeout = ${Math.round((options.waitSeconds ?? 0) * 1000)}`)
        got = await client.query(`SELECT pg_catalog.pg_advisory_lock(${key})`).then(
          () => true,
          (error: { code?: string }) => {
            if (error.code === '55P03') return false
            throw error
          },
        )
        await client.query('SET lock_timeout = 0')
      } else {
        got = Boolean(((await client.query(`SELECT pg_catalog.pg_try_advisory_lock(${key}) AS got`)).rows[0] as { got: boolean }).got)
      }
    } catch (error) {
      throw toDatabaseError(error, context)
    }
    if (!got) {
      busy.push(...names)
      continue
    }
    try {
      if (!options.dryRun) {
        await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`)
        removed.push(...names)
      }
    } catch (error) {
      throw toDatabaseError(error, context)
    } finally {
      await client.query(`SELECT pg_catalog.pg_advisory_unlock(${key})`).catch(() => {})
    }
  }
  return { found, removed, busy }
}
