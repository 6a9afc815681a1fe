/**
 * backup = Source → BackupWriter → backup file (DESIGN.md §3, §6).
 *
 * 1. Parse the URL, open a read session (one consistent snapshot where the engine has one).
 * 2. Describe the selected tables; order them parents first so a restore can stream the file once.
 * 3. Open the target file: a temporary file behind gzip / encryption / SHA-256 (`createBackupFile`).
 * 4. Stream every table, batch by batch, into the writer; memory is bounded by one batch. Where
 *    the source can write a table's record lines itself (PostgreSQL), they pass through as text.
 * 5. Write the metadata last, then commit: fsync, rename into place, write the catalog sidecar.
 * On any error the temporary file is removed: a failed backup leaves nothing that looks like one.
 */
import path from 'node:path'
import type { DatabaseSchema, TableSchema } from '../adapters/adapter.js'
import { loadAdapter, parseDatabaseUrl } from '../adapters/registry.js'
import { UsageError } from '../errors.js'
import { originKey } from '../crypto/origin-seal.js'
import { BackupWriter } from '../format/writer.js'
import type { BackupMetadata, IncrementalInfo } from '../format/types.js'
import { columnsSignature, DigestIndexWriter } from '../storage/digest-index.js'
import { comparable, incrementalDirectory, recordRowStamps, resolveParent, writeTableChanges } from './incremental.js'
import { prepareStampStream, writeChangesByStampStream } from './incremental-stream.js'
import { hasKeyOrder, KEY_ORDER_C } from '../adapters/key-order.js'
import { RowStampsWriter, stripStamps } from '../storage/row-stamps.js'
import { BLOCK_ROWS, RowBlocksWriter } from '../storage/row-blocks.js'
import { createBackupFile, type RemoteBackupTarget } from '../storage/backup-file.js'
import { chooseCompression, compressionSuffix } from '../storage/compression.js'
import { foreignKeyOrder } from './table-order.js'
import { BufferReclaimer, releaseChunk } from './buffer-reclaim.js'
import type { ProgressListener } from './progress.js'

export interface BackupOptions {
  /** Database URL (DESIGN.md §2). */
  readonly db: string
  /** PostgreSQL schema (default `public`). */
  readonly schema?: string
  /**
   * Where to write: a file when it ends in `.json`, `.json.gz`, `.json.zst` or `.enc`, otherwise a directory
   * (created if missing) in which the file is named `<name>-YYYY-MM-DDTHH-mm-ss.json[.gz|.zst][.enc]`.
   */
  readonly out: string
  /** Backup name (default `backup`). */
  readonly name?: string
  readonly description?: string
  readonly tables?: readonly string[]
  readonly exclude?: readonly string[]
  /** gzip the JSON (true, or a level 1–9). A file name ending in `.gz` implies it. */
  readonly gzip?: boolean | number
  /** zstd the JSON instead (true, or a level 1–19). A file name ending in `.zst` implies it. */
  readonly zstd?: boolean | number
  /** Encrypt with this passphrase. A file name ending in `.enc` requires it. */
  readonly passphrase?: string
  /** Save indexes (default true). */
  readonly includeIndexes?: boolean
  readonly batchSize?: number
  readonly onProgress?: ProgressListener
  /**
   * Count each table's rows first (in the backup's own snapshot), so that progress events carry
   * totals and a bar can show how far along it is and the time left. Costs one count per table:
   * the admin page and a terminal ask for it; scripts (no terminal) and the bench do not.
   */
  readonly progressTotals?: boolean
  /**
   * Write the digest index beside the backup (default true), which an incremental backup needs
   * of its parent. It costs time on every backup (measured in docs/performance.md): a backup that
   * will never start or continue a chain can leave it out.
   */
  readonly digestIndex?: boolean
  /**
   * Row stamps beside the digest index (default true where the source has them: PostgreSQL), and,
   * for an increment, comparing by them. False: every row digested (a check, and the bench's baseline).
   */
  readonly rowStamps?: boolean
  /**
   * Called once the temporary file is open, before any byte is written: the HTTP server follows
   * it to stream a backup while it is written, and removes it when it kills a backup job.
   */
  readonly onFileOpened?: (file: { readonly path: string; readonly temporaryPath: string }) => void
  readonly now?: Date
  /** Stream the backup straight to this remote (an S3Remote) instead of `out`; no local file is written. */
  readonly remote?: RemoteBackupTarget
  /** The catalog's `originKind`: 'manual' (default) or 'scheduled' (the scheduler). */
  readonly originKind?: 'manual' | 'scheduled'
  /**
   * Make an incremental backup (issue #18): only the rows inserted or updated since the parent, and
   * the keys of those deleted. The parent is the newest backup named `name` in the directory `out`.
   */
  readonly incremental?: boolean
  /** Make an incremental backup whose parent is this backup of `out` (a file name, or the newest backup of that name). */
  readonly since?: string
  /**
   * With `incremental` / `since`: only rows whose value in this timestamp column is at or after
   * the parent's time (less a margin) are digested and compared; older rows are taken as
   * unchanged. Deletions are still found exactly (every key is read). Only when the user asks.
   */
  readonly changedSinceColumn?: string
  /**
   * Database sessions the read may use at once (default 1). With 2 or more, PostgreSQL reads a
   * big table on two sessions of one snapshot (postgres-split-read.ts), with the same bytes as
   * one. Not the default: on the 2-core bench machine it gained nothing, because this process
   * already keeps the second core busy (docs/performance.md §Round six). MySQL/MariaDB: an
   * increment reads its row digests on two sessions of one snapshot unless this is 1
   * (docs/performance.md §Round nine). SQLite: with 2, the record lines are read on a second
   * thread of the same snapshot (sqlite-reader-thread.ts), same bytes (§Round ten). MongoDB reads on one.
   */
  readonly jobs?: number
}

export interface BackupResult {
  readonly file: string
  readonly sizeBytes: number
  readonly sha256: string
  readonly metadata: BackupMetadata
  readonly durationMs: number
  readonly warnings: readonly string[]
  /**
   * An increment only: how each table's changes were found. `stamps`: only the keys and xmins of
   * its rows were read (PostgreSQL, storage/row-stamps.ts); `blocks`: the lines of key ranges read
   * as one value each and compared with the parent's block digests, only the changed ranges' rows
   * digested (SQLite, storage/row-blocks.ts); `digests`: every row digested; `whole`: carried
   * whole (new, no key, or its columns changed).
   */
  readonly compared?: Readonly<Record<string, 'stamps' | 'blocks' | 'digests' | 'whole'>>
}

const FILE_SUFFIX = /\.(json|json\.gz|json\.zst|enc)$/i

/**
 * The time --changed-since-column compares with: the parent's export time less a minute, so that
 * a row written while the parent's snapshot was being taken, with a clock slightly behind, is
 * still compared.
 */
function changedSinceTime(parent: { readonly exportedAt?: string; readonly createdAt: string }): string {
  return new Date(Date.parse(parent.exportedAt ?? parent.createdAt) - 60_000).toISOString()
}

/** Is `out` a file path (by its suffix) rather than a directory? */
export function isBackupFilePath(out: string): boolean {
  return FILE_SUFFIX.test(out)
}

function selectSchemaTables(schema: DatabaseSchema, exclude: readonly string[] | undefined): TableSchema[] {
  const names = new Set(schema.tables.map((t) => t.name))
  for (const name of exclude ?? []) {
    if (!names.has(name)) {
      throw new UsageError(`--exclude names table "${name}", which is not in database ${schema.database}. It has: ${[...names].join(', ')}.`, {
        code: 'UNKNOWN_TABLE',
      })
    }
  }
  const skipped = new Set(exclude ?? [])
  return schema.tables.filter((t) => !skipped.has(t.name))
}

/**
 * Backs up a database into one JSON file. Resolves once the file is durable and catalogued.
 * Throws UsageError for bad options, ConnectionError when the database cannot be reached; in
 * every failure no file is left behind.
 */
export async function backup(options: BackupOptions): Promise<BackupResult> {
  const started = Date.now()
  const config = parseDatabaseUrl(options.db, { schema: options.schema })
  const asFile = isBackupFilePath(options.out)
  const gzip = options.gzip ?? (asFile && options.zstd === undefined && /\.gz(\.enc)?$/i.test(options.out) ? true : false)
  const zstd = options.zstd ?? (asFile && options.gzip === undefined && /\.zst(\.enc)?$/i.test(options.out) ? true : false)
  const compression = chooseCompression({ gzip, zstd }).compression
  const suffix = compressionSuffix(compression)
  if (asFile && /\.enc$/i.test(options.out) && !options.passphrase) {
    throw new UsageError(`${options.out} ends in .enc but no passphrase is set: set MERGEBACK_PASSPHRASE or pass --passphrase-file.`, {
      code: 'NO_PASSPHRASE',
    })
  }
  if (asFile && !options.remote) {
    // The file name says what the file holds (issue #14): gzip data in a ".json", or an
    // encrypted container without ".enc", would be misread by whoever opens it next.
    const expected = `.json${suffix}${options.passphrase ? '.enc' : ''}`
    const matches = options.passphrase ? /\.enc$/i.test(options.out) : options.out.toLowerCase().endsWith(expected)
    if (!matches) {
      const suggested = options.out.replace(/(\.json)?(\.gz|\.zst)?(\.enc)?$/i, expected)
      throw new UsageError(
        `${options.out} does not end in ${expected}, but the backup will be ${[compression !== 'none' ? `${compression}-compressed` : '', options.passphrase ? 'encrypted' : ''].filter(Boolean).join(' and ') || 'plain JSON'}: name it ${suggested}.`,
        { code: 'BAD_FILE_NAME', details: { expected: suggested } },
      )
    }
  }
  const incremental = options.incremental === true || options.since !== undefined
  if (options.changedSinceColumn !== undefined && !incremental) {
    throw new UsageError('changedSinceColumn (--changed-since-column) only goes with an incremental backup (--incremental or --since).', { code: 'BAD_OPTION' })
  }
  if (incremental && options.remote) throw new UsageError('An incremental backup is written into a backup directory (its parent is there), not straight to a remote.', { code: 'BAD_OPTION' })
  // Everything about the parent is checked before the database is read or a byte is written.
  const parentLoading = incremental
    ? resolveParent(incrementalDirectory(options.out, asFile), {
        since: options.since,
        name: options.name ?? 'backup',
        engine: config.engine,
        database: config.database,
        schema: config.schema,
        passphrase: options.passphrase,
      })
    : undefined
  parentLoading?.catch(() => undefined)
  // A big table read on two sessions keeps the second part in a temporary file beside the backup.
  const spoolDir = options.remote ? undefined : asFile ? path.dirname(path.resolve(options.out)) : path.resolve(options.out)
  // The source connects and starts its snapshot while the parent's sidecars open; a parent
  // refused still wins, and the source is then closed unread.
  const opening = loadAdapter(config.engine).then(async (adapter) => adapter.openSource(config, { sessions: options.jobs, incremental, spoolDir }))
  const parent = await parentLoading?.catch(async (error: unknown) => {
    await opening.then(
      (unused) => unused.close(),
      () => undefined,
    )
    throw error
  })
  // The parent's index and stamps stay open while the walk reads them table by table.
  const closeParent = (): void => {
    parent?.index.close()
    parent?.stamps?.close()
  }
  const source = await opening.catch((error: unknown) => {
    closeParent()
    throw error
  })
  try {
    const described = await source.describe({ tables: options.tables })
    const tables = foreignKeyOrder(selectSchemaTables(described, options.exclude)).ordered.map((t) =>
      options.includeIndexes === false ? { ...t, indexes: [] } : t,
    )
    const pending = await createBackupFile(options.remote ? { remote: options.remote } : asFile ? { file: options.out } : { dir: options.out }, {
      name: options.name ?? 'backup',
      gzip,
      zstd,
      passphrase: options.passphrase,
      now: options.now,
      originKind: options.originKind,
    })
    options.onFileOpened?.({ path: pending.path, temporaryPath: pending.temporaryPath })
    // The digest index the next incremental backup compares with (storage/digest-index.ts). Not
    // for a remote. An encrypted backup's is encrypted with the same passphrase.
    const index =
      options.remote || options.digestIndex === false ? undefined : new DigestIndexWriter(pending.path, { passphrase: options.passphrase })
    // Beside the index where the source has row stamps (PostgreSQL's xmin): what lets the next
    // increment skip unchanged rows without digesting them (storage/row-stamps.ts). Not beside an
    // encrypted backup: its unkeyed key digests would let anyone test guesses of keys.
    const stampsWriter =
      index !== undefined && options.rowStamps !== false && !options.passphrase && source.readRowStamps !== undefined ? new RowStampsWriter(pending.path) : undefined
    // Block digests beside the index where the source can read key ranges as one value (SQLite):
    // what lets the next increment skip unchanged rows without reading them one by one
    // (storage/row-blocks.ts). Not beside an encrypted backup, as row stamps.
    const blocksWriter = index !== undefined && !options.passphrase && source.lineBlocks !== undefined ? new RowBlocksWriter() : undefined
    // An encrypted index derives its own key (scrypt, 64 MiB): done before the first row is read.
    await index?.ready()
    const replaced: string[] = []
    const deleted: Record<string, unknown[][]> = {}
    const rowCounts: Record<string, number> = {}
    const compared: Record<string, 'stamps' | 'blocks' | 'digests' | 'whole'> = {}
    const narrowWarnings: string[] = []
    const reclaimer = new BufferReclaimer()
    // How a chunk the writer's output was laid out in goes back to its pool after its write's callback.
    const whenRead = pending.whenRead
    try {
      const writer = new BackupWriter(pending.stream, {
        engine: config.engine,
        database: config.database,
        schema: config.schema,
        backupName: options.name ?? 'backup',
        description: options.description,
        compression,
        encryption: options.passphrase ? 'aes-256-gcm' : 'none',
        includesIndexes: options.includeIndexes !== false,
        // An increment is in the mergeback layout on every engine (its metadata names the parent).
        layout: config.engine === 'mongodb' && parent === undefined ? 'mongo-native' : 'mergeback',
        // The MongoDB layout writes every collection's schema before the documents.
        tables,
        now: options.now,
        // Sealed with this installation's key, so that its own definitions are trusted on restore.
        originKey: originKey({ create: true }),
      })
      const totals = options.onProgress && options.progressTotals && parent === undefined ? await rowTotals(source) : undefined
      for (const table of tables) {
        const total = totals?.get(table.name)
        options.onProgress?.({ type: 'table', table: table.name, ...(total !== undefined ? { records: total } : {}) })
        await writer.beginTable(table)
        // The parent's index is read table by table, in this walk's order (only this table's is
        // held, or, where it is in the key order, not even that: incremental-stream.ts).
        const head = parent === undefined ? undefined : await parent.index.head(table.name)
        const compare = parent !== undefined && comparable(table, head)
        // The parent's entries in the key order, stamps beside them, and a source that reads its
        // rows in that order: the two are merged as streams.
        const stampsHead = compare && stampsWriter !== undefined && head!.order === KEY_ORDER_C ? await parent.stamps?.head(table.name) : undefined
        const stream = stampsHead !== undefined ? await prepareStampStream(source, table, stampsHead) : undefined
        const previous = compare && stream === undefined ? await parent.index.load() : undefined
        // A table read whole takes its row stamps in the same read as its lines, where the source
        // can: its index thread turns them into stamps entries (docs/performance.md §Round five).
        const scope = !compare && stampsWriter !== undefined ? await source.rowStampScope?.(table) : undefined
        const stamped = scope !== undefined ? source.readRecordLinesWithStamps?.(table) : undefined
        if (stamped !== undefined) stampsWriter!.beginTable(table.name, scope!)
        const lines = !compare && stamped === undefined ? source.readRecordLines?.(table) : undefined
        const blockRows = blocksWriter !== undefined && source.lineBlocks!(table, []) !== undefined ? BLOCK_ROWS : undefined
        // Entries written in the key order (adapters/key-order.ts): the PostgreSQL source reads a
        // table's lines sorted so, and a streamed increment writes them in its rows' order.
        const ordered = stream !== undefined || ((stamped !== undefined || lines !== undefined) && source.readRowStampsInKeyOrder !== undefined && hasKeyOrder(table))
        await index?.beginTable(table, {
          ...(stamped !== undefined ? { stamps: (entries: Uint8Array) => stampsWriter!.addEntries(entries), digestStamps: scope!.kind === 'digest' } : {}),
          ...(blockRows !== undefined ? { blockRows } : {}),
          ...(ordered ? { order: KEY_ORDER_C } : {}),
        })
        let blocks: Uint8Array | undefined
        if (compare) {
          const column = options.changedSinceColumn
          // SQLite has no date type: its dates are text (ISO-8601, read with Date.parse).
          const kinds = config.engine === 'sqlite' ? ['timestamp', 'timestamptz', 'date', 'text'] : ['timestamp', 'timestamptz', 'date']
          const narrowed = column !== undefined && table.columns.some((c) => c.name === column && kinds.includes(c.kind))
          if (column !== undefined && !narrowed) narrowWarnings.push(`--changed-since-column ${column}: table "${table.name}" has no such date or timestamp column; every row of it was compared`)
          const changes: { deleted: unknown[][]; rows: number; changed: number; stamped: boolean; blocks?: Uint8Array } =
            stream !== undefined
              ? await writeChangesByStampStream(source, writer, index!, stampsWriter!, table, parent.index, parent.stamps!, stream)
              : await writeTableChanges(source, writer, index!, table, previous!, {
                  ...options,
                  ...(narrowed ? { changedSince: { column: column!, time: changedSinceTime(parent.sidecar) } } : {}),
                  ...(stampsWriter ? { stamps: { writer: stampsWriter, parent: stampsHead !== undefined ? await parent.stamps!.load() : await parent.stamps?.table(table.name) } } : {}),
                  ...(blockRows !== undefined && parent.blocks?.has(table.name) ? { blocks: parent.blocks.get(table.name)! } : {}),
                })
          blocks = changes.blocks
          if (stampsWriter && !changes.stamped) await recordRowStamps(source, table, stampsWriter)
          compared[table.name] = changes.stamped ? 'stamps' : changes.blocks !== undefined ? 'blocks' : 'digests'
          if (changes.deleted.length > 0) deleted[table.name] = changes.deleted
          rowCounts[table.name] = changes.rows
        } else {
          // A full backup's table, or one an increment carries whole (new, no key, or its key or columns changed).
          if (parent !== undefined) {
            replaced.push(table.name)
            compared[table.name] = 'whole'
          }
          let count = 0
          if (stamped !== undefined) {
            for await (const chunk of stamped) {
              // The index copies the lines with their stamps before they are taken off in place,
              // and the writer lays its output out in the chunk (the room the stamps leave).
              await index!.addLines(chunk, table)
              // The chunk goes back to its source's pool (a PostgreSQL COPY's) once the file's
              // stream has taken the output laid out in it (docs/performance.md §Round fourteen).
              const written = await writer.writeRecordLines(stripStamps(chunk), chunk, whenRead && (() => whenRead(() => releaseChunk(chunk))))
              reclaimer.afterChunk()
              count += written
              options.onProgress?.({ type: 'rows', table: table.name, rows: written })
            }
          } else if (lines !== undefined) {
            for await (const chunk of lines) {
              const written = await writer.writeRecordLines(chunk)
              await index?.addLines(chunk, table)
              // Both copied the lines: the chunk is free.
              releaseChunk(chunk)
              reclaimer.afterChunk()
              count += written
              options.onProgress?.({ type: 'rows', table: table.name, rows: written })
            }
          } else {
            for await (const rows of source.readTable(table, { batchSize: options.batchSize })) {
              await writer.writeRows(rows)
              await index?.addRows(rows, table.primaryKey)
              reclaimer.afterChunk()
              count += rows.length
              options.onProgress?.({ type: 'rows', table: table.name, rows: rows.length })
            }
          }
          rowCounts[table.name] = count
          if (stampsWriter && stamped === undefined) await recordRowStamps(source, table, stampsWriter)
        }
        if (blockRows !== undefined) blocksWriter!.addTable(table.name, columnsSignature(table), blocks ?? (await index!.tableBlocks()))
        await index?.endTable()
        if (stamped !== undefined) await stampsWriter!.endTable()
        await writer.endTable()
      }
      // The rest of the parent's index is read, so that its gzip or encryption checks have run on
      // every byte the increment compared with before anything is committed.
      await parent?.index.finish()
      const metadata = await writer.finish({
        warnings: [...described.warnings, ...narrowWarnings],
        ...(parent === undefined
          ? {}
          : {
              incremental: {
                parent: { file: parent.entry.file, name: parent.sidecar.name, sha256: parent.sidecar.sha256, ...(parent.sidecar.exportedAt ? { exportedAt: parent.sidecar.exportedAt } : {}) },
                base: parent.base,
                depth: parent.depth,
                replaced,
                deleted,
                rowCounts,
                detection: options.changedSinceColumn ? { changedSinceColumn: options.changedSinceColumn, since: changedSinceTime(parent.sidecar) } : 'digest',
              } as IncrementalInfo,
            }),
      })
      const committed = await pending.commit(metadata)
      // Written after the backup: a backup without its index is complete (the next one is then full).
      await index?.commit(committed.path).catch(async () => index.abort())
      await stampsWriter?.commit(committed.path).catch(async () => stampsWriter.abort())
      // After the index: blocks without it are of no use, and without blocks the next increment compares every row.
      await blocksWriter?.commit(committed.path).catch(() => undefined)
      return {
        file: committed.path,
        sizeBytes: committed.sizeBytes,
        sha256: committed.sha256,
        metadata,
        durationMs: Date.now() - started,
        // A read on fewer threads than asked for is said here, not in the backup's metadata: the file is the same either way.
        warnings: source.readerNote === undefined ? described.warnings : [...described.warnings, source.readerNote],
        ...(parent !== undefined ? { compared } : {}),
      }
    } catch (error) {
      await index?.abort()
      await stampsWriter?.abort()
      await pending.abort()
      throw error
    }
  } finally {
    closeParent()
    await source.close()
  }
}

/** Rows per table by the source's statistics (exact counts in the snapshot), or undefined when they cannot be read: totals only inform progress. */
async function rowTotals(source: { stats(): Promise<{ tables: readonly { name: string; rows: number | null }[] }> }): Promise<Map<string, number> | undefined> {
  try {
    const stats = await source.stats()
    return new Map(stats.tables.flatMap((t) => (typeof t.rows === 'number' ? [[t.name, t.rows] as const] : [])))
  } catch {
    return undefined
  }
}
