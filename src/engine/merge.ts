/**
 * Smart merge = backup file → merge core → Destination (DESIGN.md §4): `analyze` and `merge`.
 *
 * Algorithm:
 *   1. Options: from the caller, or — `merge` with a plan — from the plan file (whose backup
 *      sha256 must match the file's; else MergeRefusedError 'stale-plan').
 *   2. Scan: read the whole backup once, verifying every checksum and authentication tag
 *      (backup-input.ts). A damaged file fails here, before any connection is opened. Into
 *      PostgreSQL and SQLite, whose rollback undoes everything, the scan reads the structure
 *      only and the merge's own pass verifies (restore.ts step 1 says how errors are told apart).
 *   3. Select tables (`--tables` / `--exclude`; an unknown name is a UsageError).
 *   4. Open one write transaction. Read the current schema and check everything that could make
 *      the merge unfaithful before anything is written: a backup table or column the database
 *      lacks (UsageError naming the table and `--exclude`), resolutions that do not fit.
 *   5. For each table, parents before children (the *current* database's foreign keys decide):
 *        count its rows; then per batch of backup records (thousands at a time):
 *          keyed tables: one readByKeys for the batch's keys → planBatch (merge/plan.ts, pure)
 *            → one writeRows for the new records, one updateRows per column set for updates.
 *            The next batch's readByKeys is sent before this batch is planned, so that the
 *            database reads while this process plans, when the two batches share no key (this
 *            batch's writes then cannot change what that read sees);
 *          tables without any key: writeRows alone, which inserts the rows the table lacks
 *            (whole-row identity, counting duplicates) and reports how many were already there.
 *        currentOnly = rows before − backup records that found their current record.
 *      Each write's count is checked against the plan of the batch; a difference means the
 *      table changed under the merge, and everything is rolled back.
 *   6. finish() (deferred foreign keys, sequences past the restored ids, deferred checks).
 *   7. `merge`: with unresolved conflicts (strategy `manual`) refuse — roll back, exit 3 —
 *      unless `skipUnresolved`; `dryRun` rolls back; otherwise commit.
 *      `analyze`: nothing was written; end the read transaction (and save the plan, when asked).
 *
 * `analyze` only reads (docs/merge.md "Preview = apply"): the destination is opened read-only
 * (one snapshot, no row locks, read permission only) and `mergeInto` runs with `readOnly`: every
 * decision is the merge's, from the same reads and the same planner, and only the writes that
 * would carry them out (and finish()) are skipped. A selection with a table that has no key at
 * all is the exception: whole-row matching counts duplicates as the insert does, so analyze then
 * runs the merge in a transaction and rolls it back, and says so. `merge --dry-run` always
 * executes everything and rolls back: it is the one that meets constraint violations.
 *
 * Memory is bounded by a batch: records stream from the file, current records are read per
 * batch, and a saved plan is written and read line by line. Only the report's list of conflicts
 * grows with the number of conflicts.
 */
import { hash } from 'node:crypto'
import path from 'node:path'
import type { DatabaseSchema, Destination, Engine, Row, RowDigests, TableSchema } from '../adapters/adapter.js'
import { loadAdapter, parseDatabaseUrl } from '../adapters/registry.js'
import { DatabaseError, InternalError, MergeRefusedError, UsageError } from '../errors.js'
import { BaseIndex } from '../merge/base-index.js'
import { planBatch } from '../merge/plan.js'
import { planBaseOnly, planThreeWayBatch, type ThreeWayPlan } from '../merge/three-way.js'
import { PLAN_FORMAT, PLAN_VERSION, PlanReader, PlanWriter, fileSha256, stalePlan, type PlanOptions } from '../merge/plan-file.js'
import { ReportBuilder, type MergeReport } from '../merge/report.js'
import { ResolutionIndex, parseResolutions, type Resolution, type ResolutionEntry } from '../merge/resolutions.js'
import { parseStrategy, type Strategy } from '../merge/strategies.js'
import { buildMergeTable, keyRow, keyString, reportKey, toCurrentEncoding, type MergeTable } from '../merge/table-info.js'
import { damageBehind, readTables, scanBackup, selectTables, verifiesInPass, type BackupScan, type TableRows } from './backup-input.js'
import { crossEngineDestination } from './cross-engine.js'
import type { ProgressListener } from './progress.js'
import type { ReaderLimits } from '../format/reader.js'

export type { MergeReport, MergeCounts, MergeConflict } from '../merge/report.js'
export type { Strategy } from '../merge/strategies.js'
export type { Resolution } from '../merge/resolutions.js'

/**
 * Rows per batch: one readByKeys and a few writes per batch. Measured on 1 M rows (PostgreSQL):
 * 1,000 keeps peak memory at the file reader's own (~200 MB) at no cost in time; 5,000 added
 * ~100 MB and was not faster.
 */
export const DEFAULT_MERGE_BATCH_SIZE = 1000

/** Options of `analyze` (and, with the additions of MergeOptions, of `merge`). */
export interface AnalyzeOptions {
  /** Conflict strategy (API `conflictResolution`); default backup_wins. */
  readonly strategy?: Strategy | string
  /** Keep the newer record when both have a timestamp (default true). */
  readonly preserveNewer?: boolean
  /** The modification timestamp column, for the tables that have it (default: updatedAt, updated_at, modifiedAt, modified_at). */
  readonly timestampField?: string
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  /** Explicit resolutions (DESIGN.md §4 shape; validated here too, for API callers). */
  readonly resolutions?: readonly Resolution[] | unknown
  /** analyze: save the plan to this file. merge: apply the plan in this file. */
  readonly plan?: string
  /** PostgreSQL schema (default public). */
  readonly schema?: string
  /** Passphrase of an encrypted backup. */
  readonly passphrase?: string
  readonly batchSize?: number
  readonly onProgress?: ProgressListener
  /** Things the user should know that are not part of the report (unused resolutions, adapter warnings). */
  readonly onWarning?: (message: string) => void
  /** MariaDB: let the target's triggers run instead of refusing (PrepareOptions.allowTriggers). */
  readonly allowTriggers?: boolean
  /** Limits on what the file may hold (docs/security.md §Limits); unset ones from the environment, else the defaults. */
  readonly limits?: Partial<ReaderLimits>
  /**
   * Accepted for symmetry with restore (the API's `dropUnsafeDefinitions`): a merge creates no
   * table, so it always leaves out the definitions it could not rebuild, and this changes nothing.
   */
  readonly dropUnsafeDefinitions?: boolean
  /**
   * Three-way merge (issue #18): the base backup, the state both the backup and the database
   * started from (docs/merge.md "Three-way merge"). A merge applying a plan made with a base
   * needs the same base file again.
   */
  readonly base?: string
  /** Three-way merge: delete the records deleted in the backup and unchanged here (needs `base`). */
  readonly applyDeletions?: boolean
  /**
   * analyze: database sessions the read of the current rows may use at once (default 1: on a
   * 2-core machine the second session gained nothing, docs/performance.md round eleven). With 2,
   * PostgreSQL reads a big table's row digests on two sessions of one snapshot
   * (DestinationOptions.sessions), the report the same. merge reads on its one session.
   */
  readonly jobs?: number
}

/** Options of `merge`: those of analyze (with `plan` meaning: apply it), and these. */
export interface MergeOptions extends AnalyzeOptions {
  /** Execute everything inside the transaction, then roll it back. */
  readonly dryRun?: boolean
  /** Under `manual`, merge what is decided and leave unresolved conflicts as they are instead of refusing. */
  readonly skipUnresolved?: boolean
}

/**
 * What `merge` would do: the §4 report, classified read-only (see the module header). With `plan`, also saves the plan (atomically,
 * only when the analysis succeeded). Throws UsageError / FormatError / IntegrityError / NotFoundError
 * for bad input (exit 2); constraint violations are for `merge --dry-run` to find.
 */
export async function analyze(backupFile: string, dbUrl: string, options: AnalyzeOptions = {}): Promise<MergeReport> {
  return run('analyze', backupFile, dbUrl, options)
}

/**
 * Merges a backup into a live database in one transaction and returns the §4 report. With
 * `plan`, applies exactly the plan saved by `analyze` (its options; refuses with
 * MergeRefusedError 'stale-plan' when a record it depends on changed). Refuses with
 * MergeRefusedError 'unresolved-conflicts' under `manual` with unresolved conflicts (unless
 * `skipUnresolved`). On any error, nothing is changed.
 */
export async function merge(backupFile: string, dbUrl: string, options: MergeOptions = {}): Promise<MergeReport> {
  return run('merge', backupFile, dbUrl, options)
}

/** The options a merge runs with, once defaults and a plan's options are applied: what a plan fixes. */
export type MergeSettings = PlanOptions

/** The backup side of a merge: the selected tables (file order) and a way to stream their rows. */
export interface MergeInput {
  /**
   * Whether `read` yields record lines besides rows (TableRows.lines), for mergeTableByDigests.
   * Default 'parsed'.
   */
  readonly records?: 'parsed' | 'lines'
  /** Engine and database the backup came from (metadata), when known. */
  readonly engine?: Engine
  readonly database?: string
  /** The selected tables, in the file's order. */
  readonly tables: readonly TableSchema[]
  /** The backup's tables that `--tables` / `--exclude` left out (to say when a selected table references one). */
  readonly unselected?: readonly string[]
  /**
   * Streams the rows of `tables` in foreign-key order of their `foreignKeys` (parents first), each
   * table's batches consumed fully before the next table is asked for (backup-input.ts readTables).
   */
  read(tables: readonly TableSchema[]): AsyncIterable<TableRows>
  /** Three-way merge: the base backup's tables (those of `tables` it has) and a way to stream them. */
  readonly base?: BaseInput
}

/** The base backup of a three-way merge, as mergeInto reads it. */
export interface BaseInput {
  /** The file, for messages. */
  readonly file: string
  /** The base's schemas of the selected tables that it has. */
  readonly tables: readonly TableSchema[]
  /** Streams their rows (each table's batches consumed fully before the next is asked for). */
  read(tables: readonly TableSchema[]): AsyncIterable<TableRows>
}

/** The hooks of one table's merge: the run's, and the table's resolutions. */
type TableHooks = MergeHooks & {
  resolutions: ReadonlyMap<string, ResolutionEntry>
  onResolutionUsed: (entry: ResolutionEntry) => void
  /** Three-way merge: the base records, by key. */
  base?: BaseIndex
}

/** Hooks of one merge run. */
export interface MergeHooks {
  readonly onProgress?: ProgressListener
  readonly onWarning?: (message: string) => void
  /** Record every decision into this plan (analyze --plan). */
  readonly planWriter?: PlanWriter
  /** Check every decision against this plan (merge --plan). */
  readonly planReader?: PlanReader
  /** Passed to Destination.prepare (PrepareOptions.allowTriggers). */
  readonly allowTriggers?: boolean
  /**
   * Classify only (analyze on a read-only destination): every decision is made as the merge
   * makes it, from the same reads, but nothing is written and finish() is not run. Only for
   * selections without tables matched by whole rows (their counts come from the insert).
   */
  readonly readOnly?: boolean
  /** The destination's describe(), when the caller already has it (same session). */
  readonly described?: DatabaseSchema
}

async function run(mode: 'analyze' | 'merge', file: string, dbUrl: string, options: MergeOptions): Promise<MergeReport> {
  const config = parseDatabaseUrl(dbUrl, { schema: options.schema })
  if (options.applyDeletions && options.base === undefined && options.plan === undefined) {
    throw new UsageError('--apply-deletions needs --base BASEFILE: only a three-way merge knows which records were deleted in the backup.', { code: 'BAD_BASE' })
  }
  const applyingPlan = mode === 'merge' && options.plan !== undefined
  const planReader = applyingPlan ? await PlanReader.open(options.plan!) : undefined
  let planWriter: PlanWriter | undefined
  try {
    const settings = planReader ? settingsFromPlan(planReader, options) : await settingsFrom(options)
    if (planReader) {
      const { engine, database } = planReader.header.database
      if (engine !== config.engine || database !== config.database) {
        throw new UsageError(`The plan ${options.plan} was made for the ${engine} database ${JSON.stringify(database)}, not ${config.redacted}.`, {
          code: 'BAD_PLAN',
        })
      }
    }
    const adapter = await loadAdapter(config.engine)
    // Where the rollback undoes everything, the checksums are verified in the merge's own pass.
    const inPass = verifiesInPass(adapter.capabilities)
    options.onProgress?.({ type: 'phase', phase: 'verify' })
    // A merge creates no table: definitions it could not rebuild are never used, only types are.
    // A scan of the structure only leaves the file's SHA-256 against its catalog to the merge's
    // pass too: that pass reads the whole file with the check on, to its end, before the commit.
    // So does a chain's full backup (chain.ts scanChain `deferFull`; its increments are verified first).
    const scan = await scanBackup(file, { passphrase: options.passphrase, verify: !inPass, unsafeDefinitions: 'drop', limits: options.limits, checkFileDigest: !inPass, deferChainFull: inPass })
    const selected = selectTables(scan, settings.tables ?? undefined, settings.exclude ?? undefined)
    let baseScan: BackupScan | undefined
    if (settings.base) {
      if (options.base === undefined) {
        throw new UsageError(`The plan ${options.plan} was made with the base backup ${settings.base.file}: give it again with --base.`, { code: 'BAD_PLAN' })
      }
      if (planReader && (await baseSha256(options.base)) !== settings.base.sha256) {
        throw stalePlan(`the base backup ${options.base} is not the one the plan was made with (sha256 differs)`)
      }
      // The base is verified whole before anything else happens: it is read again, unverified, into the index.
      baseScan = await scanBackup(options.base, { passphrase: options.passphrase, verify: true, unsafeDefinitions: 'drop', limits: options.limits })
      checkBase(file, scan, options.base, baseScan, selected, options.onWarning)
    } else if (options.base !== undefined) {
      throw new UsageError(`The plan ${options.plan} was made without a base backup: do not give --base with it.`, { code: 'BAD_PLAN' })
    }
    if (planReader || (mode === 'analyze' && options.plan !== undefined)) {
      const sha256 = await fileSha256(file)
      if (planReader && planReader.header.backup.sha256 !== sha256) {
        throw stalePlan(`the backup file ${file} is not the one the plan was made for (sha256 differs)`)
      }
      if (mode === 'analyze') {
        planWriter = await PlanWriter.create(options.plan!, {
          format: PLAN_FORMAT,
          version: PLAN_VERSION,
          createdAt: new Date().toISOString(),
          backup: { file: path.basename(file), sha256 },
          database: { engine: config.engine, database: config.database },
          options: settings,
        })
      }
    }
    const input: MergeInput = {
      // Record lines let a destination that can read its rows as lines compare them unparsed
      // (mergeTableByDigests); a plan records every decision, so it takes the ordinary path.
      records: planReader === undefined && planWriter === undefined && baseScan === undefined ? 'lines' : 'parsed',
      engine: scan.metadata.engine as Engine | undefined,
      database: typeof scan.metadata.database === 'string' ? scan.metadata.database : undefined,
      tables: selected,
      unselected: scan.tables.map((t) => t.schema.name).filter((name) => !selected.some((t) => t.name === name)),
      base: baseScan === undefined ? undefined : baseInput(baseScan, selected, { passphrase: options.passphrase, limits: options.limits, batchSize: settings.batchSize }),
      read: (tables) => {
        // readTables decides between one pass and a pass per table from the scan's schemas, so
        // they must carry the same (current database's) foreign keys as `tables`.
        const byName = new Map(tables.map((t) => [t.name, t]))
        const ordered = { ...scan, tables: scan.tables.map((t) => ({ ...t, schema: byName.get(t.schema.name) ?? t.schema })) }
        return readTables(ordered, tables, { passphrase: options.passphrase, limits: options.limits, batchSize: settings.batchSize, records: input.records ?? 'parsed', verify: inPass })
      },
    }

    // analyze reads on one snapshot with read permission only, unless a selected table has no
    // key: whole-row matching counts duplicates as the insert does, which only the write knows.
    let readOnly = mode === 'analyze'
    const sourceEngine = scan.metadata.engine as Engine | undefined
    let destination = crossEngineDestination(await adapter.openDestination(config, { readOnly, sessions: options.jobs ?? 1 }), sourceEngine)
    let described: DatabaseSchema | undefined
    if (readOnly) {
      described = await destination.describe()
      const keyless = tablesWithoutKey(destination.engine, described, selected)
      if (keyless.length > 0) {
        described = undefined
        await destination.close()
        readOnly = false
        options.onWarning?.(
          `${keyless.map((name) => JSON.stringify(name)).join(', ')} ${keyless.length === 1 ? 'has' : 'have'} no primary key or unique NOT NULL key: ` +
            `to count its rows exactly as the merge would, analyze runs the merge in a transaction and rolls it back (this needs write permission and takes row locks).`,
        )
        destination = crossEngineDestination(await adapter.openDestination(config), sourceEngine)
      }
    }
    try {
      const report = await mergeInto(destination, input, settings, {
        onProgress: options.onProgress,
        onWarning: options.onWarning,
        planReader,
        planWriter,
        allowTriggers: options.allowTriggers,
        readOnly,
        described,
      })
      if (mode === 'merge' && report.totals.unresolved > 0 && !options.skipUnresolved) throw unresolvedRefusal(report)
      if (mode === 'analyze' || options.dryRun) await destination.rollback()
      else {
        options.onProgress?.({ type: 'phase', phase: 'commit' })
        await destination.commit()
      }
      await planWriter?.commit()
      planWriter = undefined
      return report
    } catch (error) {
      await destination.rollback(error)
      throw inPass ? await damageBehind(error, file, options.passphrase, options.limits) : error
    } finally {
      await destination.close()
    }
  } finally {
    planReader?.close()
    await planWriter?.abort()
  }
}

/** The selected tables the current database has without any key (matched by whole rows). */
function tablesWithoutKey(engine: Engine, described: DatabaseSchema, selected: readonly TableSchema[]): string[] {
  if (engine === 'mongodb') return []
  const current = new Map(described.tables.map((t) => [t.name, t]))
  const keyless: string[] = []
  for (const backup of selected) {
    try {
      if (buildMergeTable(backup, current.get(backup.name), { engine }).match === 'row') keyless.push(backup.name)
    } catch {
      // Drift: reported by the merge itself.
    }
  }
  return keyless
}

async function settingsFrom(options: AnalyzeOptions): Promise<MergeSettings> {
  const batchSize = options.batchSize ?? DEFAULT_MERGE_BATCH_SIZE
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize must be a whole number ≥ 1, got ${batchSize}.`)
  return {
    ...(options.base === undefined ? {} : { base: { file: path.basename(options.base), sha256: await baseSha256(options.base) }, applyDeletions: Boolean(options.applyDeletions) }),
    strategy: parseStrategy(options.strategy),
    preserveNewer: options.preserveNewer ?? true,
    timestampField: options.timestampField ?? null,
    tables: options.tables ? [...options.tables] : null,
    exclude: options.exclude ? [...options.exclude] : null,
    resolutions: options.resolutions === undefined || options.resolutions === null ? [] : parseResolutions(options.resolutions),
    batchSize,
  }
}

/** A plan fixes the options: giving any of them again is a UsageError rather than silently ignored. */
function settingsFromPlan(plan: PlanReader, options: MergeOptions): MergeSettings {
  const given = (['strategy', 'preserveNewer', 'timestampField', 'tables', 'exclude', 'resolutions', 'applyDeletions'] as const).filter(
    (name) => options[name] !== undefined && !(name === 'applyDeletions' && options[name] === false),
  )
  if (given.length > 0) {
    throw new UsageError(`A plan fixes the merge's options: do not give ${given.join(', ')} with it (they are taken from the plan).`, { code: 'BAD_PLAN' })
  }
  const o: PlanOptions = plan.header.options
  return { ...o }
}

/** The base file's sha256, or a UsageError when it cannot be read. */
async function baseSha256(file: string): Promise<string> {
  try {
    return await fileSha256(file)
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (cause as Error).message
    throw new UsageError(`Cannot read the base backup ${file}: ${reason}.`, { code: 'BAD_BASE', cause })
  }
}

/**
 * Refuses a base that cannot be the common ancestor of the backup (issue #18, "Bad input"), before
 * anything is written: another engine or database (metadata), made after the backup (metadata
 * times), sharing no selected table with the backup, or identifying a table's records by other
 * key columns. A selected table the base lacks (created since) is merged with an empty base.
 */
function checkBase(file: string, scan: BackupScan, baseFile: string, base: BackupScan, selected: readonly TableSchema[], onWarning?: (message: string) => void): void {
  // File names, not paths: the API shows this message on the page, and the server's directories are not the user's business.
  const bad = (why: string) => new UsageError(`The base backup ${path.basename(baseFile)} cannot be the common ancestor of ${path.basename(file)}: ${why}.`, { code: 'BAD_BASE' })
  const m = scan.metadata
  const b = base.metadata
  if (typeof m.engine === 'string' && typeof b.engine === 'string' && m.engine !== b.engine) throw bad(`it is a ${b.engine} backup, the backup is of ${m.engine}`)
  if (typeof m.database === 'string' && typeof b.database === 'string' && m.database !== b.database) {
    throw bad(`it is a backup of the database ${JSON.stringify(b.database)}, the backup is of ${JSON.stringify(m.database)}`)
  }
  const baseTables = new Map(base.tables.map((t) => [t.schema.name, t.schema]))
  const shared = selected.filter((t) => baseTables.has(t.name))
  if (selected.length > 0 && shared.length === 0) {
    throw bad(`it has none of the tables merged (${selected.map((t) => t.name).join(', ')}); it has ${[...baseTables.keys()].join(', ') || 'no table'}`)
  }
  for (const table of shared) {
    const keyA = baseTables.get(table.name)!.primaryKey
    const keyB = table.primaryKey
    if (keyA.length > 0 && keyB.length > 0 && keyA.join('\u0000') !== keyB.join('\u0000')) {
      throw bad(`table ${JSON.stringify(table.name)} is keyed by ${keyA.join(', ')} there and by ${keyB.join(', ')} in the backup`)
    }
  }
  const at = (meta: BackupScan['metadata']) => (typeof meta.exportedAt === 'string' ? Date.parse(meta.exportedAt) : Number.NaN)
  if (at(b) > at(m)) throw bad(`it was made after the backup (${String(b.exportedAt)} > ${String(m.exportedAt)}); swap the two files`)
  const missing = selected.filter((t) => !baseTables.has(t.name)).map((t) => t.name)
  if (missing.length > 0) {
    onWarning?.(`The base backup has no table ${missing.map((n) => JSON.stringify(n)).join(', ')}: ${missing.length === 1 ? 'it is' : 'they are'} merged as if the base were empty there (every record new on one side).`)
  }
}

/** The base backup's side of the merge input: the selected tables it has. */
function baseInput(base: BackupScan, selected: readonly TableSchema[], options: { passphrase?: string; limits?: Partial<ReaderLimits>; batchSize: number }): BaseInput {
  const names = new Set(selected.map((t) => t.name))
  const tables = base.tables.map((t) => t.schema).filter((t) => names.has(t.name))
  return { file: base.file, tables, read: (wanted) => readTables(base, wanted, options) }
}

/**
 * Loads the base into an index on disk (merge/base-index.ts). The base's fields the current
 * table no longer has are dropped (they cannot be compared with anything); tables the current
 * database matches without a key are left out (they merge two-way).
 */
async function loadBase(base: BaseInput, tables: ReadonlyMap<string, MergeTable>, current: ReadonlyMap<string, TableSchema>, engine: Engine): Promise<BaseIndex> {
  const index = BaseIndex.create()
  try {
    const wanted = base.tables.filter((t) => tables.get(t.name)?.match !== 'row' && tables.has(t.name))
    // The base's own foreign keys would only order the reads; drop them, order does not matter here.
    for await (const { schema, batches } of base.read(wanted.map((t) => ({ ...t, foreignKeys: [] })))) {
      const table = tables.get(schema.name)!
      const currentTable = current.get(schema.name)!
      const known = new Set(currentTable.columns.map((c) => c.name))
      const schemaless = engine === 'mongodb'
      const kept = schemaless ? schema : { ...schema, columns: schema.columns.filter((c) => known.has(c.name)) }
      const baseTable = buildMergeTable(kept, currentTable, { engine })
      if (baseTable.keyColumns.join('\u0000') !== table.keyColumns.join('\u0000')) {
        throw new InternalError(`base table ${schema.name}: keyed differently from the backup's`)
      }
      async function* rows(): AsyncGenerator<Row[]> {
        for await (const batch of batches) {
          yield schemaless
            ? batch
            : batch.map((row) => {
                for (const field in row) if (!known.has(field)) return Object.fromEntries(Object.entries(row).filter(([f]) => known.has(f)))
                return row
              })
        }
      }
      await index.load(base.file, baseTable, rows())
    }
    return index
  } catch (error) {
    index.close()
    throw error
  }
}

function unresolvedRefusal(report: MergeReport): MergeRefusedError {
  const n = report.totals.unresolved
  return new MergeRefusedError(
    `${n} conflict${n === 1 ? ' is' : 's are'} unresolved (strategy manual): give resolutions with --resolutions FILE (analyze --json lists the conflicts), or pass --skip-unresolved to leave them as they are. Nothing was changed.`,
    'unresolved-conflicts',
    { details: { unresolved: n, conflicts: report.conflicts.length } },
  )
}

async function* once(rows: Row[]): AsyncGenerator<Row[]> {
  yield rows
}

/**
 * The merge itself, inside the destination's open transaction (steps 4–6 of the module header);
 * the caller commits or rolls back. Exported for tests that feed backup rows from memory.
 */
export async function mergeInto(destination: Destination, input: MergeInput, settings: MergeSettings, hooks: MergeHooks = {}): Promise<MergeReport> {
  const target = hooks.described ?? (await destination.describe())
  const current = new Map(target.tables.map((t) => [t.name, t]))

  if (settings.timestampField !== null) {
    const field = settings.timestampField
    const schemaless = destination.engine === 'mongodb'
    if (!schemaless && !input.tables.some((t) => current.get(t.name)?.columns.some((c) => c.name === field))) {
      throw new UsageError(`--timestamp-field ${field}: none of the merged tables has a column ${JSON.stringify(field)}.`, { code: 'BAD_TIMESTAMP_FIELD' })
    }
  }

  const report = new ReportBuilder({ threeWay: input.base !== undefined })
  const tables = new Map<string, MergeTable>()
  for (const backup of input.tables) {
    tables.set(backup.name, buildMergeTable(backup, current.get(backup.name), { engine: destination.engine, timestampField: settings.timestampField ?? undefined }))
    report.table(backup.name)
  }

  const resolutionIndex = new ResolutionIndex(settings.resolutions)
  for (const name of resolutionIndex.tables()) {
    if (!tables.has(name)) {
      throw new UsageError(`The resolutions name table ${JSON.stringify(name)}, which this merge does not include (not in the backup, or not selected).`, {
        code: 'BAD_RESOLUTIONS',
      })
    }
  }
  const resolutionsByTable = new Map([...tables].map(([name, table]) => [name, resolutionIndex.forTable(table)]))

  // Say, before anything is written, when the selection leaves out tables it references.
  const unselected = new Set(input.unselected ?? [])
  const leftOut = new Map<string, string[]>()
  for (const backup of input.tables) {
    const foreignKeys = [...(current.get(backup.name)?.foreignKeys ?? []), ...backup.foreignKeys]
    for (const fk of foreignKeys) {
      if (unselected.has(fk.referencedTable)) leftOut.set(fk.referencedTable, [...new Set([...(leftOut.get(fk.referencedTable) ?? []), backup.name])])
    }
  }
  if (leftOut.size > 0) {
    const which = [...leftOut].map(([parent, children]) => `${children.join(', ')} → ${parent}`).join('; ')
    hooks.onWarning?.(
      `The selected tables reference tables of the backup that --tables/--exclude leave out (${which}): records that point to rows the database lacks make the merge fail. ` +
        `To merge them together: --tables ${[...input.tables.map((t) => t.name), ...leftOut.keys()].join(',')}`,
    )
  }

  if (settings.applyDeletions && input.base && destination.deleteRows === undefined) {
    throw new UsageError(`--apply-deletions is not supported into ${destination.engine} yet: merge without it (deletions are then reported, never applied).`, { code: 'BAD_BASE' })
  }

  const prepared = await destination.prepare(
    { engine: input.engine ?? destination.engine, database: input.database ?? target.database, tables: input.tables, warnings: [] },
    { mode: 'merge', drop: false, allowTriggers: Boolean(hooks.allowTriggers) },
  )
  for (const warning of prepared.warnings) hooks.onWarning?.(warning)

  // The current database's foreign keys decide the order: it is the one that enforces them.
  const ordered = input.tables.map((t) => {
    const target = current.get(t.name)
    const viaPartitions = target?.options?.partitionReferences
    return { ...t, foreignKeys: target?.foreignKeys ?? t.foreignKeys, ...(viaPartitions ? { options: { ...t.options, partitionReferences: viaPartitions } } : {}) }
  })
  // Three-way: the base, on disk, joined by key (merge/base-index.ts).
  const base = input.base ? await loadBase(input.base, tables, current, destination.engine) : undefined
  try {
    hooks.onProgress?.({ type: 'phase', phase: 'write' })
    const processed: MergeTable[] = []
    for await (const { schema, records, batches, lines } of input.read(ordered)) {
      const table = tables.get(schema.name)!
      processed.push(table)
      hooks.onProgress?.({ type: 'table', table: table.name, records })
      const tableHooks = { ...hooks, base, resolutions: resolutionsByTable.get(table.name)!, onResolutionUsed: (entry: ResolutionEntry) => resolutionIndex.markUsed(entry) }
      const current = lines !== undefined && !hooks.planReader && !hooks.planWriter && !base ? await currentDigests(destination, table) : undefined
      if (lines !== undefined && current !== undefined) await mergeTableByDigests(destination, table, lines, current, settings, report, tableHooks)
      else await mergeTable(destination, table, batches, settings, report, tableHooks)
    }
    // --apply-deletions: children before parents, once everything else is written.
    if (base && !hooks.readOnly) {
      for (const table of processed.reverse()) {
        for (const keys of base.queuedDeletes(table.name, settings.batchSize)) {
          const deleted = await destination.deleteRows!(table.name, table.keyColumns, keys)
          if (deleted !== keys.length) throw changedUnderMerge(table, `${keys.length - deleted} of the ${keys.length} records it was to delete were gone`)
        }
      }
    }
  } finally {
    base?.close()
  }

  hooks.onProgress?.({ type: 'phase', phase: 'finish' })
  if (!hooks.readOnly) await destination.finish()
  await hooks.planReader?.expectEnd()
  for (const unused of resolutionIndex.unused()) {
    hooks.onWarning?.(`The resolution for ${unused.table} ${JSON.stringify(unused.key)} was not used: that record is not a conflict in this merge.`)
  }
  return report.build()
}

async function mergeTable(
  destination: Destination,
  table: MergeTable,
  batches: AsyncIterable<Row[]>,
  settings: MergeSettings,
  report: ReportBuilder,
  hooks: TableHooks,
): Promise<void> {
  const rowsBefore = await destination.countRows(table.name)
  const writeSchema = writeSchemaFor(table)
  const prefetching = destination.engine !== 'mongodb'
  let matched = 0
  let recordIndex = 0
  const iterator = readAhead(batches)[Symbol.asyncIterator]()
  const convert = (rows: Row[], first: number): Row[] => rows.map((row, i) => toCurrentEncoding(table, row, first + i))
  let next = await iterator.next()
  let batch = next.done ? [] : convert(next.value, 0)
  let prefetched: Promise<Row[]> | undefined
  try {
    while (!next.done) {
      const size = next.value.length
      if (table.match === 'row') {
        if (hooks.readOnly) throw new InternalError(`table ${table.name} has no key: it cannot be merged read-only`)
        const result = await destination.writeRows(writeSchema, once(batch))
        if (result.inserted + result.skipped !== batch.length) {
          throw changedUnderMerge(table, `${batch.length} rows were written but ${result.inserted + result.skipped} counted`)
        }
        await hooks.planReader?.expectRowBatch(table.name, batch.length, result.inserted, result.skipped)
        await hooks.planWriter?.rowBatch(table.name, batch.length, result.inserted, result.skipped)
        const counts = report.table(table.name)
        counts.new += result.inserted
        counts.unchanged += result.skipped
        matched += result.skipped
        next = await iterator.next()
        if (!next.done) batch = convert(next.value, recordIndex + size)
      } else {
        const currentRows = await (prefetched ?? destination.readByKeys(table.name, table.keyColumns, batch.map((b) => keyRow(table, b))))
        prefetched = undefined
        // Read the next batch's current records now, so that the database reads them while this
        // batch is planned here. Only when no key is in both batches: this batch's writes touch
        // its own keys alone, so the read sees what it would see after them.
        next = await iterator.next()
        const following = next.done ? undefined : convert(next.value, recordIndex + size)
        if (following !== undefined && prefetching && disjointKeys(table, batch, following)) {
          prefetched = destination.readByKeys(table.name, table.keyColumns, following.map((b) => keyRow(table, b)))
          prefetched.catch(() => undefined) // awaited on the next turn, or its failure reported below
        }
        try {
          matched += await mergeKeyedBatch(destination, table, writeSchema, batch, currentRows, recordIndex, settings, report, hooks)
        } catch (error) {
          // A failed read ahead aborts the transaction, and the writes then fail for that reason:
          // the read's own error is the one to report.
          const readFailure = prefetched === undefined ? undefined : await prefetched.then(() => undefined, (failure: unknown) => failure)
          throw readFailure ?? error
        }
        if (following !== undefined) batch = following
      }
      recordIndex += size
      hooks.onProgress?.({ type: 'rows', table: table.name, rows: size })
    }
  } finally {
    if (!next.done) await iterator.return?.(undefined)
    if (prefetched !== undefined) await prefetched.catch(() => undefined)
  }
  // Three-way: the base records the backup does not have (deleted in the backup).
  if (hooks.base && table.match !== 'row') {
    for (const baseRows of hooks.base.unseen(table, settings.batchSize)) {
      const currentRows = await destination.readByKeys(table.name, table.keyColumns, baseRows.map((row) => keyRow(table, row)))
      const plan = planBaseOnly(table, baseRows, currentRows, { ...batchOptions(settings, hooks), applyDeletions: Boolean(settings.applyDeletions) })
      await applyPlan(destination, table, writeSchemaFor(table), plan, report, hooks)
      matched += plan.matchedBase
    }
  }
  // Never negative, even for a broken file whose duplicate keys matched records it inserted itself.
  report.table(table.name).currentOnly = Math.max(0, rowsBefore - matched)
}
/**
 * The current table as digests comparable with the backup's record lines, or undefined when they
 * cannot be: the table must be matched by its primary key and every backup column be a current
 * column of the same kind (so that both sides spell equal rows alike).
 */
async function currentDigests(destination: Destination, table: MergeTable): Promise<AsyncIterable<RowDigests> | undefined> {
  if (destination.readRowDigests === undefined || table.match !== 'primary-key' || table.schemaless) return undefined
  const columns = table.backupSchema.columns
  if (columns.length === 0 || columns.some((c) => table.columns.get(c.name)?.kind !== c.kind)) return undefined
  if (table.keyColumns.some((c) => !table.columns.has(c))) return undefined
  return destination.readRowDigests(table.name, columns.map((c) => c.name))
}

/** How far ahead in the current digests a backup line is looked for (current records added since the backup). */
const LOOKAHEAD = 32

/** The digest Destination.readRowDigests gives for the same line: the first 16 bytes of its SHA-256, in hex. */
export function lineDigest(line: Buffer): string {
  return hash('sha256', line, 'hex').slice(0, 32)
}

/**
 * A keyed table merged by digests (the fast path of merge and analyze, docs/merge.md "Speed and
 * memory"): the backup's record lines and the database's digests of the current rows' lines,
 * both in key order, walk side by side. A backup line whose digest is the current digest in front
 * (or one a few ahead, stepping past current records the backup does not have) is an unchanged
 * record, counted without being parsed or fetched. Every other backup record (new, changed, or
 * out of step) is parsed and merged the ordinary way, in batches (mergeKeyedBatch: readByKeys,
 * then field by field), which decides everything about it. So the walk only has to be right
 * about identity: equal digests are identical lines, and identical lines are identical records.
 * The digests are read through a cursor that sees the table as it was before this merge wrote
 * anything, and they count its rows. One batch is read and planned while the walk goes on; two
 * batches that share a key (a broken file) are never in flight together.
 */
async function mergeTableByDigests(
  destination: Destination,
  table: MergeTable,
  lines: AsyncIterable<Buffer>,
  current: AsyncIterable<RowDigests>,
  settings: MergeSettings,
  report: ReportBuilder,
  hooks: TableHooks,
): Promise<void> {
  const writeSchema = writeSchemaFor(table)
  const counts = report.table(table.name)
  const currentIterator = current[Symbol.asyncIterator]()
  // The window: the current rows not yet passed (`at` is the one in front), their digests and
  // keys as RowDigests packs them, kept as strings (a digest is compared where it lies).
  let digests = ''
  let keys = ''
  let count = 0
  let at = 0
  /** Where the key of row `keyAt` begins in `keys` (keys are found walking forward from it). */
  let keyAt = 0
  let keyFrom = 0
  /** Bumped when the window is rebuilt, so that a front key parsed before is not taken for the new front's. */
  let generation = 0
  let currentDone = false
  /** Current rows read so far (with those still in the window): all of them, at the end. */
  let rowsBefore = 0
  /** The key of the current digest in front, once parsed (out-of-step records compare keys with it). */
  let frontKey: { at: number; generation: number; key: string } | undefined
  let matched = 0
  let recordIndex = 0
  let pending: Row[] = []
  let pendingFrom = 0
  let inFlight: { keys: Set<string>; done: Promise<void> } | undefined
  /** Where row `row`'s key (≥ keyAt) begins in `keys`. */
  const keyStart = (row: number): number => {
    if (row < keyAt) {
      keyAt = 0
      keyFrom = 0
    }
    for (; keyAt < row; keyAt++) keyFrom = keys.indexOf('\n', keyFrom) + 1
    return keyFrom
  }
  const pull = async (): Promise<void> => {
    const next = await currentIterator.next()
    if (next.done) currentDone = true
    else {
      rowsBefore += next.value.count
      // The rows passed are dropped; the rest (at most LOOKAHEAD) carry over in front of the new.
      keys = keys.slice(keyStart(at)) + next.value.keys
      digests = digests.slice(32 * at) + next.value.digests
      count = count - at + next.value.count
      at = 0
      keyAt = 0
      keyFrom = 0
      generation++
    }
  }
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return
    const rows = pending
    const from = pendingFrom
    pending = []
    const batchKeys = new Set(rows.map((row) => keyString(table, row)))
    const previous = inFlight
    // This batch's read must see what the batch before wrote when they share a key.
    if (previous !== undefined && sharesKey(batchKeys, previous.keys)) await previous.done
    const read = destination.readByKeys(table.name, table.keyColumns, rows.map((row) => keyRow(table, row)))
    read.catch(() => undefined) // awaited below, in order
    const done = (async () => {
      await previous?.done
      // Not `matched += await …`: that would add to the count read before the await.
      const found = await mergeKeyedBatch(destination, table, writeSchema, rows, await read, from, settings, report, hooks)
      matched += found
    })()
    done.catch(() => undefined)
    inFlight = { keys: batchKeys, done }
    await previous?.done
  }
  try {
    for await (const chunk of lines) {
      let rows = 0
      for (let start = 0; start < chunk.length; ) {
        const end = chunk.indexOf(0x0a, start)
        const line = chunk.subarray(start, end)
        start = end + 1
        rows++
        if (!currentDone && count - at <= LOOKAHEAD) await pull()
        const digest = lineDigest(line)
        let found = -1
        const limit = Math.min(count, at + LOOKAHEAD)
        for (let k = at; k < limit; k++) {
          if (digests.startsWith(digest, 32 * k)) {
            found = k
            break
          }
        }
        if (found !== -1) {
          at = found + 1
          counts.unchanged++
          matched++
        } else {
          const row = toCurrentEncoding(table, JSON.parse(line.toString('utf8')) as Row, recordIndex)
          // The current row in front with this record's key is its old version: step past it.
          if (at < count) {
            if (frontKey === undefined || frontKey.at !== at || frontKey.generation !== generation) {
              const from = keyStart(at)
              frontKey = { at, generation, key: keyString(table, digestKeyRow(table, keys.slice(from, keys.indexOf('\n', from)))) }
            }
            if (frontKey.key === keyString(table, row)) at++
          }
          if (pending.length === 0) pendingFrom = recordIndex
          pending.push(row)
          if (pending.length >= settings.batchSize) await flush()
        }
        recordIndex++
      }
      hooks.onProgress?.({ type: 'rows', table: table.name, rows })
    }
    await flush()
    await inFlight?.done
    // The current rows after the last backup record: counted, for currentOnly.
    while (!currentDone) await pull()
  } catch (error) {
    // A failed read or write aborts the transaction, and the cursor then fails for that reason:
    // the batch's own error is the one to report.
    const failure = inFlight === undefined ? undefined : await inFlight.done.then(() => undefined, (cause: unknown) => cause)
    throw failure ?? error
  } finally {
    await inFlight?.done.catch(() => undefined)
    await currentIterator.return?.(undefined)
  }
  report.table(table.name).currentOnly = Math.max(0, rowsBefore - matched)
}

/** Whether two sets of key strings share one. */
function sharesKey(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const key of a) if (b.has(key)) return true
  return false
}

/** The key row of a current digest's key text (JSON array of the key columns' wire values). */
function digestKeyRow(table: MergeTable, keyText: string): Row {
  const values = JSON.parse(keyText) as Row[string][]
  const row: Row = {}
  table.keyColumns.forEach((column, i) => {
    row[column] = values[i]
  })
  return row
}

/** Plans one batch of a keyed table against its current records and writes it; returns how many found their current record. */
async function mergeKeyedBatch(
  destination: Destination,
  table: MergeTable,
  writeSchema: TableSchema,
  batch: readonly Row[],
  currentRows: readonly Row[],
  recordIndex: number,
  settings: MergeSettings,
  report: ReportBuilder,
  hooks: TableHooks,
): Promise<number> {
  if (hooks.base && table.match !== 'row') {
    const baseRows = hooks.base.lookup(table, batch)
    const plan = planThreeWayBatch(table, batch, currentRows, baseRows, { ...batchOptions(settings, hooks), applyDeletions: Boolean(settings.applyDeletions) }, recordIndex)
    await applyPlan(destination, table, writeSchema, plan, report, hooks)
    return plan.matched
  }
  const plan = planBatch(table, batch, currentRows, batchOptions(settings, hooks), recordIndex)
  await applyPlan(destination, table, writeSchema, { ...plan, deletes: [], matchedBase: 0 }, report, hooks)
  return plan.matched
}

function batchOptions(settings: MergeSettings, hooks: TableHooks) {
  return {
    strategy: settings.strategy,
    preserveNewer: settings.preserveNewer,
    resolutions: hooks.resolutions,
    onResolutionUsed: hooks.onResolutionUsed,
    fingerprints: Boolean(hooks.planReader || hooks.planWriter),
    classifyOnly: Boolean(hooks.readOnly),
  }
}

/** Checks or records a batch's decisions in a plan, then carries the batch out (nothing but the report when read-only). */
async function applyPlan(destination: Destination, table: MergeTable, writeSchema: TableSchema, plan: ThreeWayPlan, report: ReportBuilder, hooks: TableHooks): Promise<void> {
  // A plan is checked before this batch writes anything.
  if (hooks.planReader) for (const decision of plan.decisions) await hooks.planReader.expectRecord(table, decision)
  if (hooks.planWriter) for (const decision of plan.decisions) await hooks.planWriter.record(table.name, decision)
  for (const decision of plan.decisions) {
    if (decision.decision === 'new' || decision.decision === 'updated' || decision.decision === 'kept') report.record(table.name, decision.decision, decision.reportKey ?? null)
  }
  if (hooks.readOnly) {
    // analyze: the decisions are the merge's; the writes would only confirm them.
    report.add(table.name, plan.counts, plan.conflicts)
    return
  }
  if (plan.inserts.length > 0) {
    const result = await destination.writeRows(writeSchema, once(plan.inserts))
    if (result.inserted !== plan.inserts.length) throw await insertsSkipped(destination, table, plan.inserts, result.inserted)
  }
  for (const group of plan.updates) {
    const changed = await destination.updateRows(table.name, table.keyColumns, group)
    if (changed !== group.length) {
      throw changedUnderMerge(table, `${group.length - changed} of the ${group.length} records it read were gone when updated`)
    }
  }
  // Deletions wait until every table was merged (mergeInto), children first.
  hooks.base?.queueDeletes(table.name, plan.deletes)
  report.add(table.name, plan.counts, plan.conflicts)
}

/** True when no record of `b` has the key of a record of `a`. */
function disjointKeys(table: MergeTable, a: readonly Row[], b: readonly Row[]): boolean {
  const keys = new Set(a.map((row) => keyString(table, row)))
  return !b.some((row) => keys.has(keyString(table, row)))
}

/**
 * Yields the batches of `source`, asking for the next one as soon as one is handed out, so that
 * reading and parsing the file overlaps the database round trips of the batch being merged.
 * At most one batch is read ahead; leaving early (break or throw) closes `source`.
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]()
  let pending = iterator.next()
  let finished = false
  try {
    for (;;) {
      const result = await pending
      if (result.done) {
        finished = true
        return
      }
      pending = iterator.next()
      // If the consumer stops before awaiting it, its failure must not become an unhandled rejection.
      pending.catch(() => undefined)
      yield result.value
    }
  } finally {
    if (!finished) await iterator.return?.(undefined)
  }
}

/**
 * The schema handed to writeRows: the backup's, with each column's type taken from the current
 * table, because the rows were converted to the current columns' encoding (toCurrentEncoding).
 */
function writeSchemaFor(table: MergeTable): TableSchema {
  const backup = table.backupSchema
  return {
    ...backup,
    // The current key names the records in the destination's error messages.
    primaryKey: table.match === 'primary-key' ? table.keyColumns : backup.primaryKey,
    columns: backup.columns.map((column) => {
      const current = table.columns.get(column.name)
      return current ? { ...column, type: current.type, kind: current.kind, elementKind: current.elementKind } : column
    }),
  }
}

/**
 * writeRows skipped records the batch's read did not find. Only the failure path pays for finding
 * out which: a record still absent was refused because it collides with another unique
 * constraint (same e-mail under another key, say); a present one appeared meanwhile.
 */
async function insertsSkipped(destination: Destination, table: MergeTable, inserts: readonly Row[], inserted: number): Promise<DatabaseError> {
  const present = new Set(
    (await destination.readByKeys(table.name, table.keyColumns, inserts.map((row) => keyRow(table, row)))).map((row) => keyString(table, row)),
  )
  const absent = inserts.find((row) => !present.has(keyString(table, row)))
  if (absent) {
    const key = reportKey(table, absent)
    return new DatabaseError(
      `Table ${JSON.stringify(table.name)}: record ${JSON.stringify(key)} could not be inserted: it collides with another record on a unique constraint other than the key (the database skipped it). Everything was rolled back.`,
      { table: table.name, key },
    )
  }
  return changedUnderMerge(table, `${inserts.length - inserted} of the ${inserts.length} records it found missing were there when inserted`)
}

function changedUnderMerge(table: MergeTable, what: string): DatabaseError {
  return new DatabaseError(
    `Table ${JSON.stringify(table.name)} changed while it was being merged (${what}), or the database matches its keys differently than it compares them (e.g. a case-insensitive collation). Everything was rolled back.`,
    { table: table.name },
  )
}
