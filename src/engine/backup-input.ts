/**
 * Reading a backup file for restore, merge, inspect and verify.
 *
 * A backup is read in passes, each a fresh stream from `openBackupChunks` (decrypt → gunzip → JSON):
 *   1. `scanBackup` reads the whole file once: every table's schema and record count, the metadata,
 *      and every checksum and authentication tag. A damaged file fails here, before anything is
 *      written anywhere.
 *   2. `BackupInput.tables()` streams the rows of the selected tables. When the file lists them in
 *      foreign-key order (mergeback writes them so), one pass serves every table; otherwise each
 *      table gets its own pass, in foreign-key order, so inserts never precede their parents.
 */
import type { Capabilities, Row, TableSchema } from '../adapters/adapter.js'
import { DatabaseError, FormatError, IntegrityError, UsageError } from '../errors.js'
import { readBackup, type ReadBackupOptions, type ReaderLimits } from '../format/reader.js'
import type { BackupEvent, BackupLayout, BackupMetadata } from '../format/types.js'
import { openBackupChunks } from '../storage/backup-file.js'
import { describeFullBackup } from '../native/full-restore.js'
import { originKey, sealMaterial, verifySeal } from '../crypto/origin-seal.js'
import { guardSchema } from './schema-guard.js'
import { foreignKeyOrder, isForeignKeyOrdered } from './table-order.js'
import { chainOf, readChainTables, scanChain, type ChainState } from './chain.js'

export interface BackupScan {
  readonly file: string
  readonly layout: BackupLayout
  /** Tables in file order, with the record count found in the file. */
  readonly tables: readonly { readonly schema: TableSchema; readonly records: number; readonly checksum: string }[]
  readonly metadata: Partial<BackupMetadata> & Record<string, unknown>
  /** What the schema guard (schema-guard.ts) dropped from the file's schema, for the report. */
  readonly warnings: readonly string[]
  /** 'here': the file carries this installation's origin seal (crypto/origin-seal.ts); 'foreign' otherwise. */
  readonly origin: 'here' | 'foreign'
  /** Set when the file is an incremental backup: its chain, resolved and verified (engine/chain.ts). */
  readonly chain?: ChainState
}

export interface BackupInputOptions {
  /** Internal (engine/chain.ts): read this file as one link of a chain, accepting an incremental backup. */
  readonly link?: boolean
  readonly passphrase?: string
  /** Rows per batch handed to destinations. */
  readonly batchSize?: number
  /** Lines per batch of a table whose lines are converted (ReadBackupOptions.convertedBatchSize; default batchSize). */
  readonly convertedBatchSize?: number
  /** What the schema guard does with an expression or definition it cannot rebuild (schema-guard.ts; default 'refuse'). */
  readonly unsafeDefinitions?: 'refuse' | 'drop'
  /** Limits on what the file may hold (format/reader.ts ReaderLimits; unset ones from the environment, else the defaults). */
  readonly limits?: Partial<ReaderLimits>
  /** Bytes per read of the file (storage/open.ts READ_BYTES by default). */
  readonly readBytes?: number
}

/**
 * One table's records, consumed exactly once, in order: as rows (`batches`), or, when read with
 * `records: 'lines'`, either as rows or as their canonical text (`lines`), whichever the consumer
 * takes first (rows are then parsed from the lines).
 */
export interface TableRows {
  readonly schema: TableSchema
  readonly records: number
  readonly batches: AsyncIterable<Row[]>
  /** Present when read with `records: 'lines'`: chunks of record lines, each followed by `\n`; or their conversion (`convertLines`). */
  readonly lines?: AsyncIterable<Buffer>
}

/** BackupInputOptions.batchSize when not given. */
export const DEFAULT_BATCH_ROWS = 5000

async function* events(
  file: string,
  options: BackupInputOptions,
  verifyChecksums: boolean,
  records: 'parsed' | 'lines' | 'none' = 'parsed',
  checkDigest = true,
  convertLines?: ReadBackupOptions['convertLines'],
  recordKeys?: ReadBackupOptions['recordKeys'],
): AsyncGenerator<BackupEvent> {
  // readBackup keeps no view of a chunk past its turn: a plain file's reads reuse their buffers.
  const chunks = await openBackupChunks(file, { passphrase: options.passphrase, checkDigest, ...(options.readBytes !== undefined ? { readBytes: options.readBytes } : {}) })
  try {
    // A pass that does not verify reads a file another pass verifies: no need to hash it twice.
    yield* readBackup(chunks, { batchSize: options.batchSize ?? DEFAULT_BATCH_ROWS, convertedBatchSize: options.convertedBatchSize ?? options.batchSize ?? DEFAULT_BATCH_ROWS, verifyChecksums, computeChecksums: verifyChecksums, records, incremental: options.link === true, limits: options.limits, convertLines, recordKeys })
  } finally {
    chunks.destroy()
  }
}

/**
 * Reads the whole file once, verifying it. Throws FormatError / IntegrityError / NotFoundError.
 *
 * Record lines are hashed, not parsed: their checksums prove them to be the writer's bytes, which
 * is a stronger check than parsing and five times faster. A table the metadata has no checksum
 * for (a file mergeback did not write) would go unproven that way, so such a file is read again
 * with every record parsed.
 */
export async function scanBackup(
  file: string,
  options: BackupInputOptions & {
    readonly verify?: boolean
    /** An incremental backup: scan its chain's full backup for its structure only (scanChain `deferFull`); the caller's pass verifies it. */
    readonly deferChainFull?: boolean
    /**
     * With `verify` false: whether this scan still checks the file's SHA-256 against its catalog
     * (default true). False for a caller whose own pass reads the whole file again, verifying it
     * (that pass checks the SHA-256 too), before anything it wrote is committed.
     */
    readonly checkFileDigest?: boolean
    /**
     * With `verify` (the default): each keyed table's record keys, handed on as the scan checks
     * them (ReadBackupOptions.recordKeys). A table may be handed its keys twice (a scan read again
     * parsing every record); handed on, a key may still belong to a file the scan then refuses.
     */
    readonly recordKeys?: ReadBackupOptions['recordKeys']
  } = {},
): Promise<BackupScan> {
  const full = await describeFullBackup(file)
  if (full) {
    throw new UsageError(
      `${file} is a full backup (the ${full.engine} engine's own dump), not a JSON backup: it has no tables to read, analyze or merge. Restore it whole with mergeback restore, or check it with mergeback verify.`,
      { code: 'FULL_BACKUP' },
    )
  }
  // An incremental backup is read as its chain's final state; every link is verified here.
  if (options.link !== true) {
    const links = await chainOf(file)
    if (links !== undefined) return scanChain(file, links, { ...options, deferFull: options.deferChainFull === true })
  }
  // Structure only (tables, counts, metadata): for a caller that verifies the checksums in its
  // own pass, inside a transaction it commits only once that pass has verified them.
  if (options.verify === false) return scanOnce(file, options, 'none', false, options.checkFileDigest ?? true)
  let quick: BackupScan
  try {
    quick = await scanOnce(file, options, 'none')
  } catch (error) {
    // A changed table: read it again parsing every record, so that a record that is no longer
    // JSON is reported as such, at its byte, rather than as a checksum mismatch.
    if (error instanceof IntegrityError && error.reason === 'checksum') return scanOnce(file, options, 'parsed')
    throw error
  }
  const checksums = (quick.metadata.checksums ?? {}) as Record<string, unknown>
  if (quick.tables.every((t) => typeof checksums[t.schema.name] === 'string')) return quick
  return scanOnce(file, options, 'parsed')
}

async function scanOnce(
  file: string,
  options: BackupInputOptions & { readonly recordKeys?: ReadBackupOptions['recordKeys'] },
  records: 'parsed' | 'none',
  verify = true,
  checkDigest = true,
): Promise<BackupScan> {
  const tables: { schema: TableSchema; records: number; checksum: string }[] = []
  let layout: BackupLayout | undefined
  let metadata: (Partial<BackupMetadata> & Record<string, unknown>) | undefined
  let current: TableSchema | undefined
  for await (const event of events(file, options, verify, records, checkDigest, undefined, options.recordKeys)) {
    switch (event.type) {
      case 'table':
        layout = event.layout
        current = event.table
        break
      case 'tableEnd':
        tables.push({ schema: event.schema ?? current!, records: event.count, checksum: event.checksum })
        current = undefined
        break
      case 'metadata':
        layout = event.layout
        metadata = event.metadata
        break
      case 'rows':
        break
    }
  }
  if (!layout || !metadata) throw new FormatError(`${file} ended before its metadata: it is not a complete backup.`)
  // The file's schema is untrusted input: its SQL is parsed and re-emitted, or refused, here,
  // so that every reader (verify included) refuses what a restore would.
  const key = originKey()
  const checksums = (metadata.checksums ?? {}) as Record<string, string | undefined>
  const trusted =
    key !== undefined &&
    typeof metadata.engine === 'string' &&
    verifySeal(key, sealMaterial(metadata.engine, tables.map((t) => ({ schema: t.schema, checksum: checksums[t.schema.name] }))), metadata.seal)
  const guarded = guardSchema(
    tables.map((t) => t.schema),
    metadata.engine,
    { trusted, unsafeDefinitions: options.unsafeDefinitions },
  )
  return {
    file,
    layout,
    tables: tables.map((t, i) => ({ ...t, schema: guarded.tables[i]! })),
    metadata,
    warnings: guarded.warnings,
    origin: trusted ? 'here' : 'foreign',
  }
}

/**
 * Applies `--tables` / `--exclude` to the scanned tables. A name that is not in the backup is a
 * UsageError (exit 2) listing the tables the backup has.
 */
export function selectTables(scan: BackupScan, include?: readonly string[], exclude?: readonly string[]): TableSchema[] {
  const names = scan.tables.map((t) => t.schema.name)
  const known = new Set(names)
  for (const name of [...(include ?? []), ...(exclude ?? [])]) {
    if (!known.has(name)) {
      throw new UsageError(`Table "${name}" is not in the backup ${scan.file}. It has: ${names.join(', ') || '(no tables)'}.`, {
        code: 'UNKNOWN_TABLE',
        details: { table: name, available: names },
      })
    }
  }
  const wanted = include ? new Set(include) : known
  const skipped = new Set(exclude ?? [])
  return scan.tables.map((t) => t.schema).filter((t) => wanted.has(t.name) && !skipped.has(t.name))
}

/**
 * Streams the rows of `tables` (a selection from the scan) in foreign-key order. The caller must
 * consume each table's `batches` fully (or stop iterating the outer generator) before asking for
 * the next table.
 */
export async function* readTables(
  scan: BackupScan,
  tables: readonly TableSchema[],
  options: BackupInputOptions & {
    readonly records?: 'parsed' | 'lines'
    /**
     * Verify the checksums in this pass (for a scan made with `verify: false`): every pass then
     * reads to the end of the file, and the generator finishes only once everything it read
     * was verified; a mismatch is thrown from it after the table's rows were handed out.
     */
    readonly verify?: boolean
    /**
     * With `records: 'lines'`: the tables whose `lines` are to be handed on converted, and how
     * (ReadBackupOptions.convertLines; the reader converts each line in the walk that checks it).
     * A chain's lines are converted too, every link's, the records later links replaced or
     * deleted dropped as they are met (readChainTables).
     */
    readonly convertLines?: ReadBackupOptions['convertLines']
  } = {},
): AsyncGenerator<TableRows> {
  if (scan.chain !== undefined) {
    // The chain scan verified every link whole, or readChainTables verifies its deferred full backup.
    yield* readChainTables(scan, tables, options)
    return
  }
  const mode = options.records ?? 'parsed'
  const verify = options.verify ?? false
  const counts = new Map(scan.tables.map((t) => [t.schema.name, t.records]))
  const ordered = foreignKeyOrder(tables).ordered
  // The foreign keys that matter are those of `tables` (the caller may add the target's own), so
  // the file order is judged with them, not with the schemas the file carries.
  const byName = new Map(tables.map((t) => [t.name, t]))
  const fileOrder = scan.tables.flatMap((t) => byName.get(t.schema.name) ?? [])
  const onePass = isForeignKeyOrdered(fileOrder)
  const passes: TableSchema[][] = onePass ? [fileOrder] : ordered.map((t) => [t])

  for (const pass of passes) {
    const names = new Set(pass.map((t) => t.name))
    const convert = options.convertLines
    // Only this pass's tables: the others' lines are read past, not handed on.
    const convertLines = mode === 'lines' && convert !== undefined ? (table: TableSchema) => (names.has(table.name) ? convert(table) : undefined) : undefined
    const iterator = events(scan.file, options, verify, mode, true, convertLines)[Symbol.asyncIterator]()
    try {
      for (const table of pass) {
        // Skip ahead to this table's header.
        for (;;) {
          const next = await iterator.next()
          if (next.done) throw new FormatError(`${scan.file} changed while it was being read: table "${table.name}" is gone.`)
          if (next.value.type === 'table' && next.value.table.name === table.name) break
          if (next.value.type === 'table' && names.has(next.value.table.name)) {
            throw new FormatError(`${scan.file} changed while it was being read: tables are in another order.`)
          }
        }
        let finished = false
        async function* chunks(): AsyncGenerator<Row[] | Buffer> {
          for (;;) {
            const next = await iterator.next()
            if (next.done) throw new FormatError(`${scan.file} ended inside table "${table.name}".`)
            if (next.value.type === 'rows') yield next.value.rows
            else if (next.value.type === 'lines') yield next.value.lines
            else if (next.value.type === 'tableEnd') {
              finished = true
              return
            }
          }
        }
        async function* batches(): AsyncGenerator<Row[]> {
          for await (const chunk of chunks()) yield Buffer.isBuffer(chunk) ? parseLines(chunk) : chunk
        }
        async function* lines(): AsyncGenerator<Buffer> {
          for await (const chunk of chunks()) yield chunk as Buffer
        }
        yield { schema: table, records: counts.get(table.name) ?? 0, batches: batches(), ...(mode === 'lines' ? { lines: lines() } : {}) }
        if (!finished) throw new FormatError(`The rows of table "${table.name}" were not all consumed.`)
      }
      // The reader verifies at the end of the document (its last event, 'metadata').
      if (verify) while (!(await iterator.next()).done) continue
    } finally {
      await iterator.return?.(undefined)
    }
  }
}

/** The rows of record lines (a 'lines' chunk). They were verified by their checksum in the scan. */
function parseLines(lines: Buffer): Row[] {
  const rows: Row[] = []
  for (let start = 0; start < lines.length; ) {
    const end = lines.indexOf(0x0a, start)
    rows.push(JSON.parse(lines.toString('utf8', start, end)) as Row)
    start = end + 1
  }
  return rows
}

/**
 * Whether a restore or merge into a destination with these capabilities verifies the checksums
 * in its write pass (readTables `verify`) instead of a scan of its own: when everything it does,
 * DDL included, is undone by the rollback a mismatch causes.
 */
export function verifiesInPass(capabilities: Capabilities): boolean {
  return capabilities.transactionalDdl && capabilities.transactionalWrite
}

/**
 * The error to report for `error`, raised by the database (or by JSON.parse) during a pass that
 * verifies the file as it goes: a record line that is not what was written (a changed or broken file) may make
 * the database fail before its checksum is compared, so the file is verified now, and its
 * damage, if any, is the error. Anything else passes through unchanged.
 */
export async function damageBehind(error: unknown, file: string, passphrase?: string, limits?: Partial<ReaderLimits>): Promise<unknown> {
  // The database's errors, and JSON.parse's of a record line not yet verified.
  if (!(error instanceof DatabaseError || error instanceof SyntaxError)) return error
  try {
    await scanBackup(file, { passphrase, limits })
  } catch (damage) {
    if (damage instanceof FormatError || damage instanceof IntegrityError) return damage
  }
  return error
}
