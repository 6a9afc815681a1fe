/**
 * Chains of incremental backups (issue #18 part 2, docs/format.md §Incremental backups).
 *
 * An incremental backup holds the rows inserted or updated since its parent and the keys of the
 * rows deleted since then. Its chain is the full backup it descends from and every increment down
 * to it. Restore, analyze, merge, inspect and verify of an increment act on the chain's final
 * state:
 *
 * 1. `chainOf`: the links, found through the catalog sidecars (no backup is read): each link's
 *    parent must be in the same directory, carry the SHA-256 the child recorded, and have the depth
 *    one less. A missing or different link is an IntegrityError (reason `broken-chain`) naming it.
 * 2. `scanChain`: every link is scanned as a backup is (whole-file SHA-256, checksums, counts),
 *    and the keys each increment touches are collected: per table, key → the last link that
 *    inserted, updated or deleted it, the upserts' keys taken in the pass that verifies the
 *    increment (keyCollector), so an increment is read twice in all (this scan and the load).
 *    Memory: the changed keys of the increments, never the full backup's rows. A restore or
 *    merge whose rollback undoes everything (`deferFull`, `checkFileDigest` false) takes the full
 *    backup's structure from its catalog entry (catalogScan) and verifies it, SHA-256 included,
 *    in its loading pass, before it commits: the full backup is read and hashed once.
 * 3. `readChainTables`: per table, the records of the link where the table starts (the full
 *    backup, or the last increment that carries it whole), then of each later increment, each
 *    record passed on only when no later link touched its key. Streamed, one batch at a time,
 *    in rows or record lines as the consumer asks, or the lines converted (`convertLines`).
 */
import path from 'node:path'
import fs from 'node:fs/promises'
import type { Row, TableSchema } from '../adapters/adapter.js'
import { FormatError, InternalError, IntegrityError, MergebackError } from '../errors.js'
import type { LineConverter, ReadBackupOptions } from '../format/reader.js'
import type { IncrementalInfo } from '../format/types.js'
import { madeHere, readSidecar, type Sidecar } from '../storage/catalog.js'
import { keyCutter, keyText, keyValuesText } from '../storage/digest-index.js'
import { DEFAULT_BATCH_ROWS, readTables, scanBackup, type BackupInputOptions, type BackupScan, type TableRows } from './backup-input.js'
import { foreignKeyOrder, isForeignKeyOrdered } from './table-order.js'

export interface ChainLink {
  /** Absolute path. */
  readonly path: string
  readonly file: string
  readonly sidecar: Sidecar
  /** 0 for the full backup. */
  readonly depth: number
}

export interface ChainState {
  /** Full backup first. */
  readonly links: readonly ChainLink[]
  readonly scans: readonly BackupScan[]
  /** Per table of the final state: the index of the link its records start at. */
  readonly start: ReadonlyMap<string, number>
  /** Per table: key text → index of the last link that inserted, updated or deleted it (links after `start` only). */
  readonly touched: ReadonlyMap<string, ReadonlyMap<string, number>>
  /**
   * The full backup (link 0) was scanned for its structure only (scanChain `deferFull`): its
   * checksums are verified by readChainTables as it reads it, or by verifyDeferredLink.
   */
  readonly deferred?: boolean
}

function broken(message: string, link: string): IntegrityError {
  return new IntegrityError(message, 'broken-chain', { details: { link } })
}

/**
 * The links of the chain that ends with `file`, full backup first; undefined when `file` is not an
 * incremental backup (its sidecar says so). Reads only sidecars.
 */
export async function chainOf(file: string): Promise<ChainLink[] | undefined> {
  const sidecar = await readSidecar(file).catch(() => undefined)
  if (sidecar?.incremental === undefined) return undefined
  const dir = path.dirname(path.resolve(file))
  const last = path.basename(file)
  const links: ChainLink[] = [{ path: path.resolve(file), file: last, sidecar, depth: sidecar.incremental.depth }]
  let child = sidecar
  while (child.incremental !== undefined) {
    const link = child.incremental
    const parentPath = path.join(dir, link.parent)
    const exists = await fs.stat(parentPath).then(
      () => true,
      () => false,
    )
    if (!exists) {
      throw broken(`The chain of ${last} is broken: its link ${link.parent} (the parent of ${child.file}) is missing from ${dir}. Nothing was read or written.`, link.parent)
    }
    const parent = await readSidecar(parentPath).catch(() => undefined)
    if (parent === undefined) {
      throw broken(`The chain of ${last} cannot be checked: its link ${link.parent} has no catalog entry (${link.parent}.meta.json), so its SHA-256 is unknown.`, link.parent)
    }
    if (parent.sha256 !== link.parentSha256) {
      throw broken(
        `The chain of ${last} is broken: its link ${link.parent} is not the backup ${child.file} was made from (SHA-256 ${parent.sha256}, but ${child.file} names ${link.parentSha256}).`,
        link.parent,
      )
    }
    const expectedDepth = link.depth - 1
    const depth = parent.incremental?.depth ?? 0
    if (depth !== expectedDepth) {
      throw broken(`The chain of ${last} has a gap before ${child.file} (depth ${link.depth}): its parent ${link.parent} has depth ${depth}, not ${expectedDepth}.`, link.parent)
    }
    if (depth === 0 && (parent.file !== link.base || parent.sha256 !== link.baseSha256)) {
      throw broken(`The chain of ${last} is broken: it names ${link.base} as its full backup, but reaches ${parent.file}.`, parent.file)
    }
    links.unshift({ path: parentPath, file: parent.file, sidecar: parent, depth })
    child = parent
  }
  return links
}

/** Prefixes an error met reading a link with the link's name, keeping its class (and exit code). */
function inLink(error: unknown, link: ChainLink, last: string): unknown {
  if (error instanceof MergebackError && !(error instanceof IntegrityError && error.reason === 'broken-chain')) {
    error.message = `Link ${link.file} (depth ${link.depth}) of the chain of ${last} is damaged: ${error.message}`
    if (error instanceof IntegrityError || error instanceof FormatError) (error.details as Record<string, unknown>).link = link.file
  }
  return error
}

function incrementalOf(scan: BackupScan): IncrementalInfo | undefined {
  return scan.metadata.incremental as IncrementalInfo | undefined
}

/**
 * Scans every link (verifying it whole) and returns the chain's final state as a BackupScan: the
 * last link's tables and metadata, with the final record counts, and `chain` set.
 */
export async function scanChain(
  file: string,
  links: readonly ChainLink[],
  options: BackupInputOptions & {
    readonly unsafeDefinitions?: 'refuse' | 'drop'
    /**
     * Scan the full backup (link 0, by far the largest) for its structure only, and leave its
     * checksums to the pass that reads it (readChainTables verifies them by the end of that pass,
     * and reports a damaged link as this scan would): for a restore whose rollback undoes
     * everything, so that the full backup is hashed once, not read whole twice with checksums.
     */
    readonly deferFull?: boolean
    /**
     * With `deferFull`: whether the full backup is still read here, for its structure, and its
     * SHA-256 checked against its sidecar (default true). False when the caller's loading pass
     * checks it (it reads the whole file with the check on before it commits): the structure then
     * comes from the catalog (catalogScan), and the full backup is read and hashed once.
     */
    readonly checkFileDigest?: boolean
    /** Keys an increment's scan takes per table before the table is read again for them (default SCAN_KEYS_PER_TABLE; tests). */
    readonly keysInScan?: number
  },
): Promise<BackupScan> {
  const last = links[links.length - 1]!.file
  // A restore or merge whose loading pass verifies the full backup whole, SHA-256 included,
  // before it commits (deferFull, checkFileDigest false) takes its structure from its catalog
  // entry instead of reading it (catalogScan): the full backup is then read and hashed once.
  const fromCatalog = options.deferFull === true && options.checkFileDigest === false && catalogScans(links[0]!.sidecar)
  const scans: BackupScan[] = []
  // Per table: key text → the last link that inserted, updated or deleted it, every link's keys
  // so far (those of links before the table's start are dropped once the starts are known).
  const touched = new Map<string, Map<string, number>>()
  for (const [at, link] of links.entries()) {
    if (fromCatalog && link.depth === 0) continue
    const deferred = options.deferFull === true && link.depth === 0
    // An increment's upserts: their keys as its verifying scan checks them.
    const collector = link.depth > 0 ? keyCollector(touched, at, options.keysInScan ?? SCAN_KEYS_PER_TABLE) : undefined
    try {
      // A deferred full backup is read for its structure only (its checksums are the loading
      // pass's); hashed too unless the caller's pass checks its SHA-256 (checkFileDigest).
      const scan = await scanBackup(link.path, {
        ...options,
        link: true,
        verify: !deferred,
        checkFileDigest: deferred ? (options.checkFileDigest ?? true) : true,
        ...(collector !== undefined ? { recordKeys: collector.recordKeys } : {}),
      })
      const info = incrementalOf(scan)
      // A MongoDB chain's full backup is in the mongo-native layout (format 'mergeback' too).
      if (link.depth === 0 ? info !== undefined || scan.metadata.format !== 'mergeback' : info === undefined || info.depth !== link.depth) {
        throw new FormatError(`its content does not match its catalog entry (${link.depth === 0 ? 'a full backup' : `increment of depth ${link.depth}`} expected)`)
      }
      if (collector !== undefined) await collector.settle(scan, info!, options)
      scans.push(scan)
    } catch (error) {
      throw inLink(error, link, last)
    }
  }
  if (fromCatalog) scans.unshift(catalogScan(links[0]!, scans[scans.length - 1]!))
  const final = scans[scans.length - 1]!
  const finalInfo = incrementalOf(final)!
  const start = new Map<string, number>()
  for (const table of final.tables) {
    const name = table.schema.name
    let at = scans.length - 1
    while (at > 0) {
      const info = incrementalOf(scans[at]!)!
      if (info.replaced.includes(name)) break
      if (!scans[at - 1]!.tables.some((t) => t.schema.name === name)) {
        throw inLink(new FormatError(`table "${name}" is new in it but not carried whole`), links[at]!, last)
      }
      at--
    }
    start.set(name, at)
  }
  // Only the keys later links than a table's start touched matter (the records of its start and
  // after); the tables the final state no longer has are dropped.
  for (const name of touched.keys()) if (!start.has(name)) touched.delete(name)
  for (const [name, from] of start) {
    const keys = touched.get(name)
    if (keys === undefined) touched.set(name, new Map())
    else for (const [key, at] of keys) if (at <= from) keys.delete(key)
  }
  const rowCounts = finalInfo.rowCounts
  const origin = scans.every((s) => s.origin === 'here') ? 'here' : 'foreign'
  const chain = links.map((link) => ({ file: link.file, depth: link.depth, sha256: link.sidecar.sha256, createdAt: link.sidecar.createdAt }))
  return {
    file,
    layout: final.layout,
    tables: final.tables.map((t) => ({ ...t, records: rowCounts[t.schema.name] ?? t.records })),
    metadata: { ...final.metadata, recordCounts: { ...rowCounts }, chain },
    warnings: [...new Set(scans.flatMap((s) => s.warnings))],
    origin,
    chain: { links, scans, start, touched, ...(options.deferFull === true ? { deferred: true } : {}) },
  }
}

/**
 * Keys one increment's scan takes for a table (keyCollector); a table with more is left to a read
 * of its own. They bound what a table the increment carries whole (its every row, and unknown to be
 * such until the increment's metadata, at its end) costs before it is dropped.
 */
const SCAN_KEYS_PER_TABLE = 1 << 17

/**
 * Collects the keys increment `at` touches into `touched` (key text → `at`): its upserts' keys as
 * its verifying scan checks them (scanBackup `recordKeys`), then, once the scan has its metadata
 * (`settle`), its deletions. A table it carries whole replaces what earlier links hold: the keys
 * of it are dropped (the table starts at this link or later). A table with more upserts than
 * `most` (SCAN_KEYS_PER_TABLE) is read again for its keys, as every increment was before.
 */
function keyCollector(
  touched: Map<string, Map<string, number>>,
  at: number,
  most: number,
): {
  recordKeys: (table: TableSchema) => (key: readonly unknown[]) => void
  settle: (scan: BackupScan, info: IncrementalInfo, options: BackupInputOptions) => Promise<void>
} {
  const overflowed = new Set<string>()
  const keysOf = (name: string): Map<string, number> => {
    let keys = touched.get(name)
    if (keys === undefined) touched.set(name, (keys = new Map()))
    return keys
  }
  return {
    recordKeys(table) {
      const keys = keysOf(table.name)
      let taken = 0
      return (key) => {
        if (taken >= most) return void overflowed.add(table.name)
        taken++
        keys.set(keyValuesText(key), at)
      }
    },
    async settle(scan, info, options) {
      for (const name of info.replaced) {
        touched.delete(name)
        overflowed.delete(name)
      }
      for (const [name, deleted] of Object.entries(info.deleted)) {
        const keys = keysOf(name)
        for (const key of deleted) keys.set(JSON.stringify(key), at)
      }
      const left = scan.tables.map((t) => t.schema).filter((t) => overflowed.has(t.name))
      for await (const table of readTables(scan, left, { ...options, link: true, records: 'parsed' })) {
        const keys = keysOf(table.schema.name)
        for await (const rows of table.batches) for (const row of rows) keys.set(keyText(row, table.schema.primaryKey), at)
      }
    },
  }
}

/** Whether a full backup's catalog entry can stand for its structure scan (catalogScan): mergeback's own layout. */
function catalogScans(sidecar: Sidecar): boolean {
  return sidecar.incremental === undefined && (sidecar.kind ?? 'smart') === 'smart' && sidecar.engine !== 'mongodb' && sidecar.tables.length > 0
}

/**
 * The full backup's structure as its catalog entry records it, for a pass that verifies the file
 * whole before it commits (scanChain `fromCatalog`): its tables in file order (the writer's order,
 * which the sidecar copies from the metadata) with their record counts, each with the final
 * state's schema (only the tables of the final state are read from it; a table the file lacks,
 * or holds in another order, fails that pass). The loading pass then checks everything the scan
 * would have: the SHA-256 against this same catalog entry (which chainOf matched with the SHA-256
 * its child recorded, so the bytes are the ones the increment was made from), every checksum and
 * count, and that it is a full backup (read as one, not as a link). Its definitions are the final
 * state's, guarded in the last link's scan. Origin: the catalog's seal of that SHA-256.
 */
function catalogScan(link: ChainLink, final: BackupScan): BackupScan {
  const schemas = new Map(final.tables.map((t) => [t.schema.name, t.schema]))
  const counts = link.sidecar.recordCounts
  return {
    file: link.path,
    layout: 'mergeback',
    tables: link.sidecar.tables.flatMap((name) => {
      const schema = schemas.get(name)
      return schema === undefined ? [] : [{ schema, records: counts[name] ?? 0, checksum: '' }]
    }),
    metadata: { format: 'mergeback', tables: [...link.sidecar.tables], recordCounts: { ...counts } },
    warnings: [],
    origin: madeHere(link.sidecar) ? 'here' : 'foreign',
  }
}

/**
 * The error a scan of the chain's deferred full backup gives, as scanChain would have reported
 * it (named after the link), or undefined when the link is whole.
 */
async function deferredLinkDamage(state: ChainState, options: BackupInputOptions): Promise<unknown> {
  const link = state.links[0]!
  try {
    await scanBackup(link.path, { ...options, link: true, verify: true })
    return undefined
  } catch (error) {
    const damage = inLink(error, link, state.links[state.links.length - 1]!.file)
    if (damage instanceof Error) reported.add(damage)
    return damage
  }
}

/** Errors deferredLinkDamage made: already what the chain scan would report. */
const reported = new WeakSet<Error>()

/**
 * Verifies a chain scan's deferred full backup whole now (for a caller that cannot verify it in
 * its own pass after all); returns the scan with nothing left to verify. Throws the error
 * scanChain would have thrown for a damaged link.
 */
export async function verifyDeferredLink(scan: BackupScan, options: BackupInputOptions): Promise<BackupScan> {
  if (scan.chain?.deferred !== true) return scan
  const damage = await deferredLinkDamage(scan.chain, options)
  if (damage !== undefined) throw damage
  return { ...scan, chain: { ...scan.chain, deferred: false } }
}

/** The tables, in the order readTables would hand them from `scan` (one pass when the file is in foreign-key order). */
function passOrder(scan: BackupScan, tables: readonly TableSchema[]): string[] {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const fileOrder = scan.tables.flatMap((t) => byName.get(t.schema.name) ?? [])
  return (isForeignKeyOrdered(fileOrder) ? fileOrder : foreignKeyOrder(tables).ordered).map((t) => t.name)
}

/**
 * `keeps` for the parsed rows of link `at`. With a one-column key, a row whose key value is not
 * among the values of the keys later links touched is kept without making its key text (most
 * rows of the full backup: making a JSON text of each cost about 1.5 s of CPU per million rows);
 * the others are checked by their key text as before. The set holds as many values as later
 * links touched keys.
 */
function rowKeeper(touched: ReadonlyMap<string, number>, key: readonly string[], at: number): (row: Row) => boolean {
  if (key.length !== 1) return (row) => keeps(touched, keyText(row, key), at)
  const column = key[0]!
  // A key text is JSON.stringify([value]): its value parsed back equals the row's value exactly
  // when the texts are equal, for the primitive values a set can hold.
  const later = new Set<unknown>()
  for (const [text, last] of touched) if (last > at) later.add((JSON.parse(text) as unknown[])[0])
  return (row) => {
    const value = row[column]
    if (typeof value === 'string' || typeof value === 'number') {
      if (!later.has(value)) return true
    }
    return keeps(touched, keyText(row, key), at)
  }
}

/** Rows per batch read from an increment (mergedBatches holds one batch of each link). */
const INCREMENT_BATCH_ROWS = 100

/** Rows per batch mergedBatches hands on: few, as the full backup's batch it takes them from is held beside it. */
const MERGED_BATCH_ROWS = 1000

/** Bytes per file read of an increment: increments hold a few % of the rows, so small reads cost them nothing measurable. */
const INCREMENT_READ_BYTES = 64 * 1024

/** Whether a record of link `at` is part of the final state. */
function keeps(touched: ReadonlyMap<string, number>, key: string, at: number): boolean {
  const last = touched.get(key)
  return last === undefined || last <= at
}

/** Whether the record line `bytes[begin, end)` (no newline) of a link is part of the final state. */
type LineKeeper = (bytes: Buffer, begin: number, end: number) => boolean

/**
 * `keeps` for the record lines of link `at`, their keys cut from the bytes (keyCutter), or
 * parsed where the cutter declines. `bitmap`: for the link the table starts at (the full backup,
 * most often), which has far more lines than later links touched keys: a line whose key bytes
 * miss a bitmap of the touched keys' hashes is kept without making its key a string (a hit is
 * checked exactly).
 */
function lineKeeper(schema: TableSchema, touched: ReadonlyMap<string, number>, at: number, bitmap: boolean): LineKeeper {
  const cut = keyCutter(schema)
  const later = bitmap ? laterKeys(touched, at) : undefined
  const hashKey = later !== undefined ? keyHasher(schema) : undefined
  return (bytes, begin, end) => {
    const hash = hashKey === undefined ? -1 : hashKey(bytes, begin, end)
    if (hash >= 0 && !later!.has(hash)) return true
    const line = bytes.subarray(begin, end)
    return keeps(touched, cut(line) ?? keyText(JSON.parse(line.toString('utf8')) as Row, schema.primaryKey), at)
  }
}

/**
 * A link's line converter that hands on only the records `keep` keeps, deciding before it
 * converts. A dropped line is refused (convertChecked false, nothing written): the reader then
 * checks it its own way, counts and hashes it as any other, and hands it to `convert`, which drops
 * it. So every line is verified as without the filter, and dropped lines (the few a later link
 * replaced or deleted) cost the reader's separate check, kept ones a single walk.
 */
function keptConverter(converter: LineConverter, keep: LineKeeper): LineConverter {
  return {
    convertChecked: (buffer, start, end, shape) => keep(buffer, start, end) && converter.convertChecked(buffer, start, end, shape),
    convert(line) {
      if (keep(line, 0, line.length)) converter.convert(line)
    },
    take: () => converter.take(),
  }
}

/**
 * Streams the final state of the chain's tables (a selection from the chain scan), as readTables
 * does for one file: each table's records, as rows or record lines, consumed once, in order.
 * With `convertLines` (readTables), every link's lines are converted by the reader as it checks
 * them, and the records a later link replaced or deleted are dropped in that same walk
 * (keptConverter): the full backup's lines, the bulk, are walked once, not checked in one walk and
 * converted in another (docs/performance.md, "Round twelve: the chain restore on the line converter").
 */
export async function* readChainTables(
  scan: BackupScan,
  tables: readonly TableSchema[],
  options: BackupInputOptions & { readonly records?: 'parsed' | 'lines'; readonly convertLines?: ReadBackupOptions['convertLines'] },
): AsyncGenerator<TableRows> {
  const state = scan.chain
  if (state === undefined) throw new InternalError('readChainTables of a single backup')
  const mode = options.records ?? 'parsed'
  const order = passOrder(scan, tables)
  const byName = new Map(tables.map((t) => [t.name, t]))
  const counts = new Map(scan.tables.map((t) => [t.schema.name, t.records]))
  const convert = mode === 'lines' ? options.convertLines : undefined
  /** Link `at`'s converter of a table's lines: the caller's, dropping the records a later link touched. */
  const converterAt = (table: TableSchema, at: number): LineConverter | undefined => {
    const converter = convert!(table)
    const schema = byName.get(table.name)!
    const touched = state.touched.get(table.name)
    if (converter === undefined || schema.primaryKey.length === 0 || touched === undefined || !hasLater(touched, at)) return converter
    return keptConverter(converter, lineKeeper(schema, touched, at, at === state.start.get(table.name)))
  }
  /**
   * The deferred full backup's damage behind `error`, found as it was read (a checksum, a file cut
   * short, one that ends early or stops being JSON), as the chain scan reports a damaged link
   * (naming it); else `error`. Also for the errors a table's rows meet while the consumer takes
   * them (reporting): the load reads the full backup there, a file cut short included.
   */
  const damageOf = async (error: unknown): Promise<unknown> => {
    if (state.deferred === true && (error instanceof FormatError || error instanceof IntegrityError) && !reported.has(error)) {
      const damage = await deferredLinkDamage(state, options)
      if (damage !== undefined) return damage
    }
    return error
  }
  async function* reporting<T>(source: AsyncGenerator<T>): AsyncGenerator<T> {
    try {
      yield* source
    } catch (error) {
      throw await damageOf(error)
    }
  }
  // Per link, the tables it contributes, and one reading pass when its order is the chain's.
  const readers = state.scans.map((linkScan, i) => {
    const held = new Set(linkScan.tables.map((t) => t.schema.name))
    const names = order.filter((name) => held.has(name) && (state.start.get(name) ?? Infinity) <= i)
    const schemas = names.map((name) => byName.get(name)!)
    const onePass = passOrder(linkScan, schemas).join('\u0000') === names.join('\u0000')
    // The deferred full backup is verified by the passes that read it: each reads to the end of
    // the file, and its last step (finish, or a single table's close) verifies the checksums.
    const verify = i === 0 && state.deferred === true
    let verified = !verify
    // Read table by table, only the first read verifies (reading to the end of the file): one
    // hashed pass over the full backup, not one per table. finish() covers a first read left early.
    let verifying = false
    let pass: AsyncGenerator<TableRows> | undefined
    // The tables whose lines this link's reader converts: lines() hands those on as they come.
    const converted = new Set<string>()
    // Every link of a table is open at once while its rows are merged (mergedBatches): an
    // increment's batches and file reads are kept small, so that seven of them add little to the
    // full backup's. Measured (docs/performance.md, "Round eight: peak RSS of every command"): the
    // parsed batches of the open links were the excess (a MariaDB chain at scale 5, 177 → 136 MB);
    // the 64 KiB reads alone did not move peak RSS. A caller's larger batchSize is capped here for
    // every link, a table read from one link included: the cap bounds memory, not a result.
    // Not for converted lines (convertedBatchSize): their consumer takes `lines`, read one link
    // after another (never merged) and held a batch at a time as their conversion, as one file's
    // are; capped, the batches were many and small, each a new output buffer of the converter
    // (1.25 MiB for PostgreSQL's), which cost more in garbage collection than the converter saved.
    // A table the converter declines (a MariaDB table with a FLOAT column) is read as rows, capped.
    const batchCap = i > 0 ? INCREMENT_BATCH_ROWS : MERGED_BATCH_ROWS
    const linkOptions = {
      ...options,
      // The deferred full backup is read as a full backup: the reader refuses an increment there
      // (its scan, when it had one, checked that too).
      link: !verify,
      records: mode,
      convertLines:
        convert === undefined
          ? undefined
          : (table: TableSchema) => {
              const converter = converterAt(table, i)
              if (converter !== undefined) converted.add(table.name)
              return converter
            },
      batchSize: Math.min(options.batchSize ?? batchCap, batchCap),
      convertedBatchSize: options.convertedBatchSize ?? options.batchSize ?? DEFAULT_BATCH_ROWS,
      ...(i > 0 ? { readBytes: INCREMENT_READ_BYTES } : {}),
    }
    return {
      names: new Set(names),
      converted,
      async open(name: string): Promise<{ rows: TableRows; close: (whole: boolean) => Promise<void> }> {
        if (onePass) {
          pass ??= readTables(linkScan, schemas, { ...linkOptions, verify })
          const next = await pass.next()
          if (next.done || next.value.schema.name !== name) throw new InternalError(`link ${state.links[i]!.file}: expected table "${name}"`)
          return { rows: next.value, close: async () => {} }
        }
        const verifyThis = verify && !verifying
        verifying ||= verifyThis
        const single = readTables(linkScan, [byName.get(name)!], { ...linkOptions, verify: verifyThis })
        const next = await single.next()
        if (next.done) throw new InternalError(`link ${state.links[i]!.file}: no table "${name}"`)
        return {
          rows: next.value,
          close: async (whole) => {
            if (!whole || !verifyThis) return void (await single.return(undefined))
            if (!(await single.next()).done) throw new InternalError(`link ${state.links[i]!.file}: more than table "${name}"`)
            verified = true
          },
        }
      },
      /** After every table was read: the deferred link's verification, finished (or done now, when no table of it was read). */
      async finish(): Promise<void> {
        if (verified) return
        if (pass !== undefined) {
          if (!(await pass.next()).done) throw new InternalError(`link ${state.links[i]!.file}: tables left unread`)
        } else {
          const damage = await deferredLinkDamage(state, options)
          if (damage !== undefined) throw damage
        }
        verified = true
      },
      async close(): Promise<void> {
        await pass?.return(undefined)
      },
    }
  })
  try {
    for (const name of order) {
      const schema = byName.get(name)!
      const touched = state.touched.get(name) ?? new Map<string, number>()
      const key = schema.primaryKey
      const from = state.start.get(name) ?? 0
      const contributing = readers.flatMap((reader, i) => (i >= from && reader.names.has(name) ? [i] : []))
      let consumed = false
      // The consumer learns whether a table's lines come converted as the reader opens the table
      // (convertLines), so with a converter the first link is opened before the table is handed
      // on, as readTables opens its file.
      let first = convert !== undefined ? await readers[contributing[0]!]!.open(name) : undefined
      async function openLink(at: number): Promise<{ rows: TableRows; close: (whole: boolean) => Promise<void> }> {
        const opened = first !== undefined && at === contributing[0] ? first : await readers[at]!.open(name)
        first = undefined
        return opened
      }
      async function* linkSources(): AsyncGenerator<{ at: number; rows: TableRows }> {
        for (const at of contributing) {
          const opened = await openLink(at)
          let whole = false
          try {
            yield { at, rows: opened.rows }
            whole = true
          } finally {
            await opened.close(whole)
          }
        }
      }
      async function* batches(): AsyncGenerator<Row[]> {
        consumed = true
        if (key.length > 0 && contributing.length > 1) {
          yield* mergedBatches(schema, contributing.map((at) => ({ at, open: () => openLink(at) })), touched, Math.min(options.batchSize ?? MERGED_BATCH_ROWS, MERGED_BATCH_ROWS))
          return
        }
        for await (const { at, rows } of linkSources()) {
          const keep = key.length > 0 && hasLater(touched, at) ? rowKeeper(touched, key, at) : undefined
          for await (const batch of rows.batches) {
            const kept = keep === undefined ? batch : batch.filter(keep)
            if (kept.length > 0) yield kept
          }
        }
      }
      async function* lines(): AsyncGenerator<Buffer> {
        consumed = true
        let converting: boolean | undefined
        for await (const { at, rows } of linkSources()) {
          // Converted lines were filtered as they were converted (keptConverter). The consumer
          // takes one kind of text for a table: every link's lines converted, or none.
          const converted = readers[at]!.converted.has(name)
          if (converting !== undefined && converted !== converting) throw new InternalError(`table "${name}": some links' lines converted, others not`)
          converting = converted
          const keep = !converted && key.length > 0 && hasLater(touched, at) ? lineKeeper(schema, touched, at, at === from) : undefined
          for await (const chunk of rows.lines!) {
            if (keep === undefined) {
              // A converted batch whose records were all dropped is empty.
              if (chunk.length > 0) yield chunk
              continue
            }
            const kept = keptLines(chunk, keep)
            if (kept.length > 0) yield kept
          }
        }
      }
      yield { schema, records: counts.get(name) ?? 0, batches: reporting(batches()), ...(mode === 'lines' ? { lines: reporting(lines()) } : {}) }
      if (!consumed) {
        await first?.close(false)
        throw new FormatError(`The rows of table "${name}" were not all consumed.`)
      }
    }
    for (const reader of readers) await reader.finish()
  } catch (error) {
    throw await damageOf(error)
  } finally {
    for (const reader of readers) await reader.close()
  }
}

/** The lines of `chunk` that `keep` keeps, moved to its front (the chunk is the caller's alone). */
function keptLines(chunk: Buffer, keep: LineKeeper): Buffer {
  let to = 0
  for (let begin = 0; begin < chunk.length; ) {
    const end = chunk.indexOf(0x0a, begin)
    if (keep(chunk, begin, end)) {
      if (to !== begin) chunk.copyWithin(to, begin, end + 1)
      to += end + 1 - begin
    }
    begin = end + 1
  }
  return chunk.subarray(0, to)
}

/** One link's records of a table, filtered by `keeps`, as the merge reads them: a batch and a position in it. */
interface MergeCursor {
  readonly at: number
  readonly iterator: AsyncIterator<Row[]>
  /** Undefined when no later link touched a key of the table. */
  readonly keep: ((row: Row) => boolean) | undefined
  rows: Row[]
  next: number
}

/**
 * The final rows of a keyed table that several links contribute to, in key order: the records
 * each link keeps (`keeps`), merged by key. Every link holds a table's records in key order (a
 * full backup reads `ORDER BY` the key; an increment writes its changed rows in the order its
 * key scan met them, fetched by key in that order), so the rows the increments changed go in at
 * their place among the full backup's, as in one full backup of the final state, instead of after
 * them. On InnoDB (a table clustered by its key) and SQLite, rows appended out of key order
 * land in the middle of a loaded table: a page split and a random page write for nearly each,
 * which made the chain restore 1.39 × one full restore on MariaDB (docs/performance.md, round
 * seven).
 *
 * The order is only for speed: every kept row of every link is passed on once whatever the
 * order, so a link out of order, or a key the comparison orders unlike the server's collation,
 * costs time, not correctness. Memory: one batch per contributing link.
 */
async function* mergedBatches(
  schema: TableSchema,
  links: readonly { at: number; open: () => Promise<{ rows: TableRows; close: (whole: boolean) => Promise<void> }> }[],
  touched: ReadonlyMap<string, number>,
  batchSize: number,
): AsyncGenerator<Row[]> {
  const compare = keyComparator(schema)
  const opened: { close: (whole: boolean) => Promise<void> }[] = []
  let whole = false
  try {
    const cursors: MergeCursor[] = []
    for (const link of links) {
      const handle = await link.open()
      opened.push(handle)
      const keep = hasLater(touched, link.at) ? rowKeeper(touched, schema.primaryKey, link.at) : undefined
      cursors.push({ at: link.at, iterator: handle.rows.batches[Symbol.asyncIterator](), keep, rows: [], next: 0 })
    }
    /** Gives the cursor its next non-empty batch of kept rows; false once its link has no more. */
    const refill = async (cursor: MergeCursor): Promise<boolean> => {
      for (;;) {
        const step = await cursor.iterator.next()
        if (step.done === true) return false
        const rows = cursor.keep === undefined ? step.value : step.value.filter(cursor.keep)
        if (rows.length > 0) {
          cursor.rows = rows
          cursor.next = 0
          return true
        }
      }
    }
    let live: MergeCursor[] = []
    for (const cursor of cursors) if (await refill(cursor)) live.push(cursor)
    let out: Row[] = []
    while (live.length > 0) {
      if (live.length === 1) {
        // The last link with rows left: its batches as they are.
        const [cursor] = live as [MergeCursor]
        const rest = cursor.next === 0 ? cursor.rows : cursor.rows.slice(cursor.next)
        if (out.length > 0) yield out
        out = []
        yield rest
        if (!(await refill(cursor))) live = []
        continue
      }
      // The cursor with the smallest key takes rows until it passes the smallest key of the
      // others: one comparison per row while one link (the full backup) runs ahead.
      let lead = live[0]!
      for (const cursor of live) if (compare(cursor.rows[cursor.next]!, lead.rows[lead.next]!) < 0) lead = cursor
      let bound: Row | undefined
      for (const cursor of live) {
        if (cursor !== lead && (bound === undefined || compare(cursor.rows[cursor.next]!, bound) < 0)) bound = cursor.rows[cursor.next]!
      }
      const rows = lead.rows
      let next = lead.next
      while (next < rows.length && compare(rows[next]!, bound!) <= 0) {
        out.push(rows[next]!)
        next++
        if (out.length >= batchSize) break
      }
      lead.next = next
      if (out.length >= batchSize) {
        yield out
        out = []
      }
      if (lead.next >= rows.length && !(await refill(lead))) live = live.filter((cursor) => cursor !== lead)
    }
    if (out.length > 0) yield out
    whole = true
  } finally {
    for (const handle of opened) await handle.close(whole)
  }
}

/**
 * Orders parsed rows by their key values as the server orders the key: numbers by value, a
 * 64-bit integer's decimal text by value, other text by UTF-16 code units (the server's collation
 * may order some strings otherwise, which only moves those rows; mergedBatches).
 */
function keyComparator(schema: TableSchema): (a: Row, b: Row) => number {
  const columns = schema.primaryKey.map((name) => ({ name, integerText: schema.columns.find((c) => c.name === name)?.kind === 'bigint' }))
  return (a, b) => {
    for (const column of columns) {
      const order = compareValues(a[column.name], b[column.name], column.integerText)
      if (order !== 0) return order
    }
    return 0
  }
}

function compareValues(a: unknown, b: unknown, integerText: boolean): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'string' && typeof b === 'string') {
    if (integerText) {
      const negative = a.startsWith('-')
      if (negative !== b.startsWith('-')) return negative ? -1 : 1
      const order = a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0
      return negative ? -order : order
    }
    return a < b ? -1 : a > b ? 1 : 0
  }
  // NULL (a nullable unique key) and mixed kinds: first, then by type; never equal unless both are.
  if (a === b) return 0
  if (a === null || a === undefined) return -1
  if (b === null || b === undefined) return 1
  return typeof a < typeof b ? -1 : typeof a > typeof b ? 1 : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0
}

/** 32-bit FNV-1a of bytes `[begin, end)` of `bytes`, continued from `hash`. */
function fnv(bytes: Uint8Array, begin: number, end: number, hash: number): number {
  for (let i = begin; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193)
  return hash
}

const FNV_START = 0x811c9dc5 | 0

/** A set of 32-bit hashes as a bitmap (false positives allowed, no false negatives). */
class HashBits {
  readonly #bits: Uint32Array
  readonly #mask: number
  constructor(count: number) {
    let size = 1 << 16
    while (size < count * 16 && size < 1 << 30) size *= 2
    this.#bits = new Uint32Array(size >>> 5)
    this.#mask = size - 1
  }
  add(hash: number): void {
    const bit = hash & this.#mask
    this.#bits[bit >>> 5]! |= 1 << (bit & 31)
  }
  has(hash: number): boolean {
    const bit = hash & this.#mask
    return (this.#bits[bit >>> 5]! & (1 << (bit & 31))) !== 0
  }
}

/** The hashes (fnv of the UTF-8 bytes) of the key texts touched by a link after `at`. */
function laterKeys(touched: ReadonlyMap<string, number>, at: number): HashBits {
  const bits = new HashBits(touched.size)
  for (const [text, last] of touched) {
    if (last <= at) continue
    const bytes = Buffer.from(text)
    bits.add(fnv(bytes, 0, bytes.length, FNV_START) >>> 0)
  }
  return bits
}

/**
 * The hash laterKeys gives the key text keyCutter cuts from the line `bytes[begin, end)`, without
 * making it: the same walk over the members up to the last key column, the key values' bytes
 * hashed in key order between `[`, `,` and `]`. -1 where keyCutter could decline (the caller then
 * cuts or parses the key as before).
 */
function keyHasher(table: TableSchema): (bytes: Buffer, begin: number, end: number) => number {
  const positions = table.primaryKey.map((name) => table.columns.findIndex((c) => c.name === name))
  if (positions.length === 0 || positions.some((p) => p < 0)) return () => -1
  const last = Math.max(...positions)
  const names = table.columns.slice(0, last + 1).map((c) => Buffer.from(`${JSON.stringify(c.name)}:`))
  const begins = new Int32Array(last + 1)
  const ends = new Int32Array(last + 1)
  return (line, lineBegin, lineEnd) => {
    if (line[lineBegin] !== 0x7b) return -1
    let at = lineBegin + 1
    for (let i = 0; i <= last; i++) {
      const name = names[i]!
      if (at + name.length > lineEnd) return -1
      for (let k = 0; k < name.length; k++) if (line[at + k] !== name[k]) return -1
      at += name.length
      begins[i] = at
      const first = line[at]
      if (first === 0x22) {
        at++
        for (;;) {
          if (at >= lineEnd) return -1
          const c = line[at]
          if (c === 0x5c) at += 2
          else if (c === 0x22) break
          else at++
        }
        at++
      } else if (first === 0x7b || first === 0x5b || at >= lineEnd) {
        return -1
      } else {
        while (at < lineEnd && line[at] !== 0x2c && line[at] !== 0x7d) at++
      }
      if (at >= lineEnd || (line[at] !== 0x2c && line[at] !== 0x7d)) return -1
      ends[i] = at
      at++
    }
    let hash = Math.imul(FNV_START ^ 0x5b, 0x01000193)
    for (let j = 0; j < positions.length; j++) {
      if (j > 0) hash = Math.imul(hash ^ 0x2c, 0x01000193)
      hash = fnv(line, begins[positions[j]!]!, ends[positions[j]!]!, hash)
    }
    return Math.imul(hash ^ 0x5d, 0x01000193) >>> 0
  }
}

/** Whether some key was touched by a link after `at`. */
function hasLater(touched: ReadonlyMap<string, number>, at: number): boolean {
  for (const last of touched.values()) if (last > at) return true
  return false
}
