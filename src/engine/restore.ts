/**
 * restore = backup file → Destination (DESIGN.md §5).
 *
 * 1. Scan: read the whole file once, checking every checksum and authentication tag, and collect
 *    the tables' schemas. A damaged file fails here: nothing has been touched yet. Into a
 *    database whose DDL and data are transactional (PostgreSQL, SQLite), the scan only reads the
 *    structure and the write pass verifies, in the transaction that a mismatch rolls back; an
 *    error the database raises meanwhile is checked against the file, so that a damaged file is
 *    reported as such and not as the SQL error it caused. MySQL/MariaDB does the same when every
 *    selected table is new (its staging tables are dropped by the rollback: PrepareResult.undoable);
 *    otherwise it verifies the file after prepare(), before the first row (its scan read the
 *    structure only, as prepare() alone knows which case it is).
 * 2. Select: `--tables` / `--exclude` (an unknown name is a UsageError, before any connection).
 * 3. Open one write transaction; prepare: create missing tables from the backup's schema and,
 *    with `drop`, empty the selected tables (only them).
 * 4. Stream each table's rows into the destination in foreign-key order. Rows whose key already
 *    exists (or, without any key, identical rows already there) are skipped and counted.
 * 5. finish (foreign keys, sequences, deferred checks), then commit — or roll back for `dryRun`,
 *    and on any error. MySQL cannot roll back DDL: its destination drops the tables it created.
 *
 * With `jobs` ≥ 2 (the default is 2), an engine that can stage a restore (Adapter.openStagedRestore:
 * PostgreSQL) is asked first: when every selected table is new there, they are built out of
 * sight, loaded on several sessions in file order and swapped in at once (restoreStaged); the
 * steps above are the path for everything else, and for `jobs: 1`. On that path MySQL/MariaDB
 * loads the tables it creates (staging tables, swapped in at commit) on `jobs` sessions when every
 * selected table is new (PrepareOptions.jobs).
 */
import type { Adapter, ConnectionConfig, Engine, Row, TableSchema } from '../adapters/adapter.js'
import { loadAdapter, parseDatabaseUrl } from '../adapters/registry.js'
import { damageBehind, scanBackup, selectTables, readTables, verifiesInPass, type BackupScan } from './backup-input.js'
import { crossEngineDestination } from './cross-engine.js'
import { verifyDeferredLink } from './chain.js'
import { DatabaseError, FormatError, InternalError } from '../errors.js'
import type { ReaderLimits } from '../format/reader.js'
import type { ProgressListener } from './progress.js'

export interface RestoreOptions {
  /** The backup file (plain, gzip or encrypted). */
  readonly file: string
  /** Target database URL: may be another database than the one backed up. */
  readonly db: string
  readonly schema?: string
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  /** Empty the selected tables first. */
  readonly drop?: boolean
  /** Do everything inside the transaction, then roll it back. */
  readonly dryRun?: boolean
  /** MariaDB: let the target's triggers run instead of refusing (PrepareOptions.allowTriggers). */
  readonly allowTriggers?: boolean
  readonly passphrase?: string
  /**
   * Leave out, with a warning, a default, generated expression, CHECK or index definition of the
   * file that mergeback cannot parse and rebuild, instead of refusing the file (docs/security.md).
   */
  readonly dropUnsafeDefinitions?: boolean
  readonly batchSize?: number
  /** Sessions that load at once where the engine can stage the restore (PostgreSQL; MySQL/MariaDB into new tables); 1 = the single-session path. Default 2. */
  readonly jobs?: number
  /** Limits on what the file may hold (docs/security.md §Limits); unset ones from the environment, else the defaults. */
  readonly limits?: Partial<ReaderLimits>
  readonly onProgress?: ProgressListener
}

export interface RestoreTableReport {
  readonly inserted: number
  readonly skipped: number
  readonly created: boolean
  readonly emptied: boolean
  /** Of `skipped`, records whose key met an existing row's only under the collation (MariaDB). */
  readonly skippedByCollation?: number
}

export interface RestoreReport {
  readonly file: string
  readonly target: string
  readonly dryRun: boolean
  readonly tables: Record<string, RestoreTableReport>
  readonly totals: { readonly inserted: number; readonly skipped: number }
  readonly warnings: readonly string[]
  /** 'here': the file carries this installation's origin seal and its own definitions were used; 'foreign': the strict path (docs/security.md). */
  readonly origin: 'here' | 'foreign'
  /** Sessions that loaded the rows: `jobs` when the restore was staged (PostgreSQL, MySQL/MariaDB: every table new), else 1. */
  readonly sessions: number
  readonly durationMs: number
}

async function* withProgress(table: string, batches: AsyncIterable<Row[]>, onProgress?: ProgressListener): AsyncGenerator<Row[]> {
  for await (const rows of batches) {
    yield rows
    onProgress?.({ type: 'rows', table, rows: rows.length })
  }
}

async function* linesWithProgress(table: string, chunks: AsyncIterable<Buffer>, onProgress?: ProgressListener): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    // Counted before it is handed on: once written, a chunk may be written into again (ChunkPool).
    let rows = 0
    if (onProgress !== undefined) for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) rows++
    yield chunk
    onProgress?.({ type: 'rows', table, rows })
  }
}

/**
 * Restores a backup. Resolves with the report once committed (or rolled back, with `dryRun`).
 * Throws FormatError / IntegrityError for a damaged file and UsageError for bad options before
 * anything is written; DatabaseError (naming table, key, constraint) after a rollback.
 */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  const started = Date.now()
  const config = parseDatabaseUrl(options.db, { schema: options.schema })
  const adapter = await loadAdapter(config.engine)
  const inPass = verifiesInPass(adapter.capabilities)
  // Staging tables (MySQL/MariaDB): only prepare() knows whether the restore is undone whole by a
  // rollback (every selected table new); until then the file is read for its structure only.
  const deferred = !inPass && adapter.capabilities.stagesNewTables === true
  options.onProgress?.({ type: 'phase', phase: 'verify' })
  const scanOptions = { passphrase: options.passphrase, unsafeDefinitions: options.dropUnsafeDefinitions ? ('drop' as const) : ('refuse' as const), limits: options.limits }
  // A chain's full backup, too, is verified as it is loaded (chain.ts scanChain `deferFull`).
  // Into PostgreSQL and SQLite (inPass) the loading pass verifies the whole file, its SHA-256
  // included, before the commit: the structure-only scan need not hash it too, nor, of a chain,
  // its full backup (its increments are verified whole by the scan, as their keys are needed first).
  let scan: BackupScan = await scanBackup(options.file, { ...scanOptions, verify: !inPass && !deferred, deferChainFull: inPass || deferred, checkFileDigest: !inPass })
  const selected = selectTables(scan, options.tables, options.exclude)
  const staged = await restoreStaged(options, config, adapter, scan, selected, inPass, started)
  if (staged !== undefined) return staged
  // A backup of another engine is checked against the cross-engine mapping (cross-engine.ts).
  const destination = crossEngineDestination(await adapter.openDestination(config), scan.metadata.engine as Engine | undefined)
  const createdTables = new Set<string>()
  let verify = inPass
  try {
    const engine = (scan.metadata.engine as typeof config.engine | undefined) ?? config.engine
    const prepared = await destination.prepare(
      { engine, database: String(scan.metadata.database ?? ''), tables: selected, warnings: [] },
      { mode: 'restore', drop: Boolean(options.drop), allowTriggers: Boolean(options.allowTriggers), jobs: options.jobs ?? 2 },
    )
    // A chain's increments were verified by its scan; its full backup is verified like a single file.
    if (deferred) {
      if (prepared.undoable === true) verify = true
      else if (scan.chain === undefined) await scanBackup(options.file, scanOptions)
      else scan = await verifyDeferredLink(scan, scanOptions)
    }
    // Order inserts by the backup's foreign keys and by the target's own: a seed file carries
    // none, and an existing target may have more than the backup knew.
    const current = await destination.describe()
    const currentTables = new Map(current.tables.map((t) => [t.name, t]))
    const forOrdering = selected.map((t) => {
      const target = currentTables.get(t.name)
      const viaPartitions = [t.options?.partitionReferences, target?.options?.partitionReferences].flatMap((names) => (Array.isArray(names) ? names : []))
      return {
        ...t,
        foreignKeys: [...t.foreignKeys, ...(target?.foreignKeys ?? [])],
        ...(viaPartitions.length > 0 ? { options: { ...t.options, partitionReferences: viaPartitions } } : {}),
      }
    })
    const backupSchemas = new Map(selected.map((t) => [t.name, t]))
    const created = new Set(prepared.created)
    for (const name of prepared.created) createdTables.add(name)
    const emptied = new Set(prepared.emptied)
    const tables: Record<string, RestoreTableReport> = {}
    const writeWarnings: string[] = []
    // Tables the destination can load from the records' JSON text itself skip parsing here.
    const asLines = new Set<string>()
    if (destination.acceptsRecordLines !== undefined && destination.writeRecordLines !== undefined) {
      for (const table of selected) if (await destination.acceptsRecordLines(table, { chain: scan.chain !== undefined })) asLines.add(table.name)
    }
    options.onProgress?.({ type: 'phase', phase: 'write' })
    // The reader makes the destination's own text of each line as it checks it (MariaDB's LOAD
    // DATA text), where the destination has a converter for the table.
    const converted = new Set<string>()
    const lineConverter = destination.lineConverter?.bind(destination)
    const reading = readTables(scan, forOrdering, {
      passphrase: options.passphrase,
      batchSize: options.batchSize ?? destination.rowBatchSize,
      limits: options.limits,
      records: asLines.size > 0 ? 'lines' : 'parsed',
      verify,
      ...(lineConverter !== undefined
        ? {
            convertLines: (table: TableSchema) => {
              const converter = asLines.has(table.name) ? lineConverter(table) : undefined
              if (converter !== undefined) converted.add(table.name)
              return converter
            },
          }
        : {}),
    })
    for await (const table of reading) {
      options.onProgress?.({ type: 'table', table: table.schema.name, records: table.records })
      const schema = backupSchemas.get(table.schema.name)!
      const result =
        table.lines !== undefined && asLines.has(schema.name)
          ? await destination.writeRecordLines!(schema, linesWithProgress(schema.name, table.lines, options.onProgress), converted.has(schema.name))
          : await destination.writeRows(schema, withProgress(schema.name, table.batches, options.onProgress))
      // A table this restore created or emptied started empty: a keyed row it skipped can only
      // have met a row of the same file with the same key. On PostgreSQL that is a key violation;
      // every engine reports it as the damaged file it is (issue #13).
      if (result.skipped > 0 && schema.primaryKey.length > 0 && (created.has(schema.name) || emptied.has(schema.name))) {
        throw new FormatError(
          `Table "${schema.name}" of ${options.file} holds ${result.skipped} record(s) whose key (${schema.primaryKey.join(', ')}) another record of the table already has: the file is damaged. Nothing was changed.`,
          { table: schema.name, details: { duplicates: result.skipped } },
        )
      }
      tables[table.schema.name] = {
        inserted: result.inserted,
        skipped: result.skipped,
        created: created.has(table.schema.name),
        emptied: emptied.has(table.schema.name),
        ...(result.skippedByCollation ? { skippedByCollation: result.skippedByCollation } : {}),
      }
      if (result.skippedByCollation) writeWarnings.push(collationWarning(schema, result.skippedByCollation))
    }
    options.onProgress?.({ type: 'phase', phase: 'finish' })
    await destination.finish()
    if (options.dryRun) await destination.rollback()
    else {
      options.onProgress?.({ type: 'phase', phase: 'commit' })
      await destination.commit()
    }
    const totals = Object.values(tables).reduce((acc, t) => ({ inserted: acc.inserted + t.inserted, skipped: acc.skipped + t.skipped }), {
      inserted: 0,
      skipped: 0,
    })
    return {
      file: options.file,
      target: config.redacted,
      dryRun: Boolean(options.dryRun),
      tables,
      totals,
      origin: scan.origin,
      warnings: [...scan.warnings, ...prepared.warnings, ...((scan.metadata.warnings as string[] | undefined) ?? []), ...writeWarnings],
      sessions: prepared.sessions ?? 1,
      durationMs: Date.now() - started,
    }
  } catch (error) {
    await destination.rollback(error)
    throw await failureOf(error, options, verify, createdTables)
  } finally {
    await destination.close()
  }
}

/** The error a failed restore reports: the file's damage behind a database error, or the error itself. */
async function failureOf(error: unknown, options: RestoreOptions, inPass: boolean, createdTables: ReadonlySet<string>): Promise<unknown> {
  const damage = inPass ? await damageBehind(error, options.file, options.passphrase, options.limits) : error
  // PostgreSQL builds the keys of the tables it created after their rows: the same key twice
  // in the file surfaces there, as a unique violation on a table that started empty.
  if (damage instanceof DatabaseError && damage.engineCode === '23505' && damage.table !== undefined && createdTables.has(damage.table)) {
    return new FormatError(`Table "${damage.table}" of ${options.file} holds two records with the same key: the file is damaged. Nothing was changed. (${damage.message})`, {
      table: damage.table,
      cause: damage,
    })
  }
  return damage
}

/**
 * The staged restore (module comment), or undefined when it does not apply: `jobs` 1, a dry run,
 * an engine it is not for, or tables the engine cannot stage
 * (StagedRestore.prepare); nothing has been changed then.
 */
async function restoreStaged(
  options: RestoreOptions,
  config: ConnectionConfig,
  adapter: Adapter,
  scan: BackupScan,
  selected: readonly TableSchema[],
  inPass: boolean,
  started: number,
): Promise<RestoreReport | undefined> {
  const jobs = options.jobs ?? 2
  if (jobs < 2 || options.dryRun || adapter.openStagedRestore === undefined) return undefined
  if (scan.metadata.engine !== config.engine) return undefined
  const staged = await adapter.openStagedRestore(config, { jobs })
  let created: ReadonlySet<string> = new Set()
  try {
    const prepared = await staged.prepare({ engine: config.engine, database: String(scan.metadata.database ?? ''), tables: selected, warnings: [] })
    if (prepared === undefined) return undefined
    created = new Set(prepared.created)
    const tables: Record<string, RestoreTableReport> = {}
    options.onProgress?.({ type: 'phase', phase: 'write' })
    // Foreign keys are added after every load: file order, one pass, whatever they say.
    // The reader makes the COPY text of each line as it checks it (one walk over the bytes).
    const converted = new Set<string>()
    const lineConverter = staged.lineConverter?.bind(staged)
    const reading = readTables(
      scan,
      selected.map((t) => ({ ...t, foreignKeys: [] })),
      {
        passphrase: options.passphrase,
        batchSize: options.batchSize,
        limits: options.limits,
        records: 'lines',
        verify: inPass,
        ...(lineConverter !== undefined
          ? {
              convertLines: (table: TableSchema) => {
                const converter = lineConverter(table)
                if (converter !== undefined) converted.add(table.name)
                return converter
              },
            }
          : {}),
      },
    )
    for await (const table of reading) {
      const name = table.schema.name
      options.onProgress?.({ type: 'table', table: name, records: table.records })
      if (table.lines === undefined) throw new InternalError(`readTables gave no record lines for "${name}"`)
      const result = await staged.writeRecordLines(table.schema, linesWithProgress(name, table.lines, options.onProgress), converted.has(name))
      tables[name] = { inserted: result.inserted, skipped: 0, created: true, emptied: false }
    }
    options.onProgress?.({ type: 'phase', phase: 'finish' })
    await staged.commit()
    options.onProgress?.({ type: 'phase', phase: 'commit' })
    const totals = Object.values(tables).reduce((acc, t) => ({ inserted: acc.inserted + t.inserted, skipped: 0 }), { inserted: 0, skipped: 0 })
    return {
      file: options.file,
      target: config.redacted,
      dryRun: false,
      tables,
      totals,
      origin: scan.origin,
      warnings: [...scan.warnings, ...prepared.warnings, ...((scan.metadata.warnings as string[] | undefined) ?? [])],
      sessions: jobs,
      durationMs: Date.now() - started,
    }
  } catch (error) {
    await staged.rollback()
    throw await failureOf(error, options, inPass, created)
  } finally {
    await staged.close()
  }
}

/**
 * Skip-existing kept a row that is not the backup's: its key and the record's are equal only
 * under the column's collation (docs/adapters-mysql.md, "Keys equal under the collation").
 */
function collationWarning(schema: TableSchema, count: number): string {
  return `Table "${schema.name}": ${count} skipped record(s) have a key${schema.primaryKey.length > 0 ? ` (${schema.primaryKey.join(', ')})` : ''} that equals an existing row's only under the column's collation (e.g. 'a' and 'A', or 'b' and 'b '); the existing rows were kept and these records were not written.`
}
