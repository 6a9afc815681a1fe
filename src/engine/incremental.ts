/**
 * Incremental backups (issue #18 part 2): which backup is the parent, and what changed since it.
 *
 * Change detection is exact and needs no trigger: every row of the database is digested in its
 * record line's canonical form and compared with the parent's digest index (storage/digest-index.ts):
 * a key the index lacks is an insert, a key whose row digest differs an update, a key of the index
 * the database no longer has a delete. PostgreSQL computes the digests itself (SHA-256 of
 * row_to_json's text, which is the record line), so for an unchanged row only its key and digest
 * cross the wire, and the changed rows are then fetched by key. MariaDB and SQLite cannot produce
 * the canonical line server-side (their JSON functions spell numbers, dates and binary otherwise),
 * so their rows are read as for a full backup and hashed in the client; the file is still small.
 * MariaDB does better when the parent has row stamps: the server digests each row's native form
 * (incremental-digests.ts), and only keys and those digests cross the wire for unchanged rows.
 * SQLite does better when the parent has block digests: SQLite hands over the lines of a few rows
 * as one value, and a block whose digest is the parent's is not read row by row
 * (incremental-blocks.ts).
 */
import path from 'node:path'
import type { Row, Source, TableSchema } from '../adapters/adapter.js'
import { IntegrityError, InternalError, NotFoundError, UsageError } from '../errors.js'
import type { BackupWriter } from '../format/writer.js'
import { listBackups, readSidecar, type BackupEntry, type Sidecar } from '../storage/catalog.js'
import { columnsSignature, DigestIndexReader, keyText, shortDigest, type DigestIndexWriter, type TableDigests } from '../storage/digest-index.js'
import { alignStamps, RowStampsReader, stampsFresh, STAMPS_ENTRY_BYTES, type RowStampsWriter, type TableStamps } from '../storage/row-stamps.js'
import { chainOf } from './chain.js'
import { keyDigestStamps, writeChangesByRowDigests } from './incremental-digests.js'
import { recordLinesByKeys } from './fetch-by-keys.js'
import { writeChangesByBlocks } from './incremental-blocks.js'
import { loadRowBlocks, type TableBlocks } from '../storage/row-blocks.js'
import type { ProgressListener } from './progress.js'

export interface IncrementalParent {
  readonly entry: BackupEntry
  readonly sidecar: Sidecar
  /**
   * The parent's digest index, read table by table in the walk's order (only the table being
   * compared is in memory); `finish` it before the increment is committed, `close` it in any case.
   */
  readonly index: DigestIndexReader
  /** The parent's row stamps (PostgreSQL, MariaDB), when it has them, read as the index: storage/row-stamps.ts. */
  readonly stamps: RowStampsReader | undefined
  /** The parent's block digests (SQLite), when it has them: storage/row-blocks.ts. */
  readonly blocks: ReadonlyMap<string, TableBlocks> | undefined
  readonly base: { readonly file: string; readonly sha256: string }
  readonly depth: number
}

/**
 * The parent of a new increment in `dir`: `since` (a file name, or the newest backup of that name),
 * or the newest backup named `name`. Checked before anything is written: it must be a catalogued
 * JSON backup of the same engine, database and schema, with its digest index, and its own chain
 * must be whole.
 */
export async function resolveParent(
  dir: string,
  options: {
    readonly since?: string
    readonly name: string
    readonly engine: string
    readonly database: string
    readonly schema?: string
    /** The new backup's passphrase: an encrypted parent's digest index is encrypted with it. */
    readonly passphrase?: string
  },
): Promise<IncrementalParent> {
  const backups = await listBackups(dir)
  const ref = options.since ?? options.name
  const entry = backups.find((b) => b.file === ref) ?? backups.find((b) => b.name === ref)
  if (entry === undefined) {
    throw new NotFoundError(
      options.since !== undefined
        ? `--since ${ref}: there is no backup of that file name or name in ${dir} (see mergeback list).`
        : `An incremental backup needs a parent: there is no earlier backup named "${ref}" in ${dir}. Make a full backup first (mergeback backup --name ${ref}).`,
      { details: { parent: ref } },
    )
  }
  const sidecar = await readSidecar(entry.path)
  const refuse = (why: string): UsageError =>
    new UsageError(`${entry.file} cannot be the parent of an incremental backup: ${why}. Nothing was written.`, { code: 'BAD_PARENT', details: { parent: entry.file } })
  if (sidecar === undefined) throw refuse('it has no catalog entry (sidecar), so its SHA-256 is unknown')
  if (entry.kind !== 'smart') throw refuse('it is a full backup made with the engine\'s own tools, not a JSON backup')
  if (entry.problem !== undefined) throw refuse(entry.problem)
  if (sidecar.engine !== options.engine || sidecar.database !== options.database || (options.engine === 'postgres' && (sidecar.schema ?? 'public') !== (options.schema ?? 'public'))) {
    throw refuse(
      `it is a backup of ${sidecar.engine ?? '?'} database "${sidecar.database ?? '?'}"${sidecar.schema ? ` (schema ${sidecar.schema})` : ''}, not of ${options.engine} database "${options.database}"${options.schema ? ` (schema ${options.schema})` : ''}`,
    )
  }
  if (entry.encrypted && options.passphrase === undefined) {
    throw refuse('it is encrypted, and so is its digest index: make the increment encrypted too, with the same passphrase (--encrypt)')
  }
  // The stamps open (it never throws) while the index does: both are mostly gunzip, off this thread.
  // A stamps file it cannot use is no stamps (an increment then compares digests), never an error.
  // Both are read table by table as the increment walks them: the parent's tables say which to look for.
  const stamps = RowStampsReader.open(entry.path, { tables: sidecar.tables }).catch(() => undefined)
  // The same for block digests: a file it cannot read is none (every row is then compared).
  const blocks = loadRowBlocks(entry.path).catch(() => undefined)
  let index: DigestIndexReader | undefined
  try {
    index = await DigestIndexReader.open(entry.path, { passphrase: options.passphrase, tables: sidecar.tables }).catch((error: unknown) => {
      if (error instanceof IntegrityError && error.reason === 'wrong-passphrase') {
        throw refuse('the passphrase given does not unlock its digest index (a wrong passphrase, or the parent was encrypted with another one)')
      }
      throw error
    })
    if (index === undefined) {
      throw refuse(
        `it has no digest index (${entry.file}.digests): it was made by an older mergeback, with --no-digest-index${entry.encrypted ? ', or while encrypted backups got none' : ''}. Make a full backup to start a chain`,
      )
    }
    // The parent's own chain must be whole, or the new link would hang from a broken one.
    const links = await chainOf(entry.path)
    const base = links === undefined ? { file: entry.file, sha256: sidecar.sha256 } : { file: links[0]!.file, sha256: links[0]!.sidecar.sha256 }
    return { entry, sidecar, index, stamps: await stamps, blocks: await blocks, base, depth: (sidecar.incremental?.depth ?? 0) + 1 }
  } catch (error) {
    index?.close()
    ;(await stamps)?.close()
    throw error
  }
}

/** Whether the parent's index can be compared with this table as it is now. */
export function comparable<T extends { readonly columns: string }>(table: TableSchema, parent: T | undefined): parent is T {
  return parent !== undefined && table.primaryKey.length > 0 && parent.columns === columnsSignature(table)
}

/**
 * Writes one table's changes since the parent into the open table of `writer`, and every row's
 * digests into the new backup's index. Returns the keys of the deleted rows and the table's
 * current row count, and `blocks` when its block digests were made here (incremental-blocks.ts)
 * rather than by the index thread.
 */
export async function writeTableChanges(
  source: Source,
  writer: BackupWriter,
  index: DigestIndexWriter,
  table: TableSchema,
  parent: TableDigests,
  options: {
    readonly batchSize?: number
    readonly onProgress?: ProgressListener
    readonly changedSince?: { readonly column: string; readonly time: string }
    readonly stamps?: { readonly writer: RowStampsWriter; readonly parent: TableStamps | undefined }
    readonly blocks?: TableBlocks
  },
): Promise<{ deleted: unknown[][]; rows: number; changed: number; stamped: boolean; blocks?: Uint8Array }> {
  if (options.blocks !== undefined && options.changedSince === undefined) {
    const fast = await writeChangesByBlocks(source, writer, index, table, parent, options.blocks)
    if (fast !== undefined) {
      options.onProgress?.({ type: 'rows', table: table.name, rows: fast.rows })
      return { ...fast, stamped: false }
    }
  }
  if (options.stamps?.parent !== undefined) {
    const fast =
      options.stamps.parent.kind === 'digest'
        ? await writeChangesByRowDigests(source, writer, index, options.stamps.writer, table, parent, options.stamps.parent)
        : await writeChangesByStamps(source, writer, index, options.stamps.writer, table, parent, options.stamps.parent)
    if (fast !== undefined) return fast
  }
  const since = options.changedSince
  const sinceMs = since === undefined ? undefined : Date.parse(since.time)
  const seen = new Uint8Array(parent.count)
  const key = table.primaryKey
  let rows = 0
  let changed = 0
  const digests = source.readRowDigests?.(table, { changedSince: since })
  // --changed-since-column needs the rows' values: that path reads rows.
  const lines = digests === undefined && since === undefined ? source.readRecordLines?.(table, { batchSize: options.batchSize }) : undefined
  let changedKeys: unknown[][] = []
  if (digests !== undefined) {
    for await (const chunk of digests) {
      for (let begin = 0; begin < chunk.length; ) {
        const end = chunk.indexOf(0x0a, begin)
        const tab = chunk.indexOf(0x02, begin)
        const values = JSON.parse(chunk.toString('utf8', begin, tab)) as unknown[]
        const text = JSON.stringify(values)
        const keyDigest = shortDigest(text)
        const at = parent.find(keyDigest)
        if (at >= 0) seen[at] = 1
        if (tab + 1 === end) {
          // Not digested (older than --changed-since-column's time): unchanged if it was there.
          if (at >= 0) await index.add(keyDigest, parent.rowDigest(at), text)
          else changedKeys.push(values)
        } else {
          const rowDigest = Buffer.from(chunk.toString('latin1', tab + 1, end), 'hex')
          await index.add(keyDigest, rowDigest, text)
          if (at < 0 || !parent.sameRow(at, rowDigest)) changedKeys.push(values)
        }
        rows++
        begin = end + 1
      }
    }
    const lines = changedKeys.length === 0 ? undefined : source.readRecordLinesByKeys?.(table, changedKeys)
    if (changedKeys.length > 0 && lines === undefined) {
      // The keys cannot be matched server-side: read the table and keep the changed rows.
      const wanted = new Set(changedKeys.map((k) => JSON.stringify(k)))
      for await (const batch of source.readTable(table, { batchSize: options.batchSize })) {
        const kept = batch.filter((row) => wanted.has(keyText(row, key)))
        if (kept.length > 0) await writer.writeRows(kept)
      }
    } else if (lines !== undefined) {
      for await (const chunk of lines) await writer.writeRecordLines(chunk)
    }
    changed = changedKeys.length
    changedKeys = []
  } else if (lines !== undefined) {
    // The client hashes every row, from the record lines the source writes (MariaDB, SQLite): no
    // row object, and the lines of changed rows are written as they are. The hashing and the
    // comparison with the parent run on the index's thread (DigestIndexWriter.compareWith), which
    // hands back the changed lines of each chunk while this thread reads the next ones.
    index.compareWith(parent)
    const waiting: Promise<{ count: number; changed: Buffer | undefined }>[] = []
    const settle = async (): Promise<void> => {
      const { count, changed: kept } = await waiting.shift()!
      rows += count
      if (kept !== undefined) changed += await writer.writeRecordLines(kept)
      options.onProgress?.({ type: 'rows', table: table.name, rows: count })
    }
    try {
      for await (const chunk of lines) {
        waiting.push((await index.compareLines(chunk, table)).result)
        // Two chunks ahead at most: their changed lines are held until written.
        while (waiting.length > 2) await settle()
      }
      while (waiting.length > 0) await settle()
    } finally {
      // A failure left chunks unanswered: their results reject with it (seen by the caller's abort).
      for (const result of waiting) result.catch(() => undefined)
    }
    seen.set(await index.compareEnd())
  } else {
    for await (const batch of source.readTable(table, { batchSize: options.batchSize })) {
      const kept: Row[] = []
      for (const row of batch) {
        const text = keyText(row, key)
        const keyDigest = shortDigest(text)
        if (since !== undefined) {
          const value = row[since.column]
          const at = parent.find(keyDigest)
          const when = typeof value === 'string' ? Date.parse(value.endsWith('Z') || /[+-]\d\d(:?\d\d)?$/.test(value) ? value : `${value}Z`) : Number.NaN
          if (at >= 0 && !Number.isNaN(when) && when < sinceMs!) {
            // Older than --changed-since-column's time: taken as unchanged, not hashed.
            seen[at] = 1
            await index.add(keyDigest, parent.rowDigest(at), text)
            continue
          }
        }
        const rowDigest = shortDigest(JSON.stringify(row))
        await index.add(keyDigest, rowDigest, text)
        const at = parent.find(keyDigest)
        if (at >= 0) seen[at] = 1
        if (at < 0 || !parent.sameRow(at, rowDigest)) kept.push(row)
      }
      rows += batch.length
      changed += kept.length
      if (kept.length > 0) await writer.writeRows(kept)
      options.onProgress?.({ type: 'rows', table: table.name, rows: batch.length })
    }
  }
  return { deleted: deletedKeys(parent, seen), rows, changed, stamped: false }
}

/** The keys of `parent` that `seen` lacks: the rows deleted since. */
export function deletedKeys(parent: TableDigests, seen: Uint8Array): unknown[][] {
  const deleted: unknown[][] = []
  for (let i = 0; i < parent.count; i++) if (seen[i] === 0) deleted.push(JSON.parse(parent.keyText(i)) as unknown[])
  return deleted
}

/**
 * The fast way to a table's changes (PostgreSQL, docs/performance.md §Incremental backups): read
 * every row's key and xmin only; a row whose xmin is the one the parent recorded (same table file,
 * within 2^31 transactions) is the very row version the parent saw, so unchanged, and goes to the
 * new index with the parent's digests. The other rows (new, updated, or rewritten in place by
 * VACUUM FULL and the like) are fetched as record lines by key and compared by digest as always,
 * so a false alarm costs a fetch, never a wrong increment. Undefined (nothing read) when the
 * table's stamps cannot be trusted or the source cannot do it: the caller compares digests.
 */
async function writeChangesByStamps(
  source: Source,
  writer: BackupWriter,
  index: DigestIndexWriter,
  stampsWriter: RowStampsWriter,
  table: TableSchema,
  parent: TableDigests,
  parentStamps: TableStamps,
): Promise<{ deleted: unknown[][]; rows: number; changed: number; stamped: boolean } | undefined> {
  if (source.rowStampScope === undefined || source.readRowStamps === undefined || source.readRecordLinesByKeys === undefined) return undefined
  const scope = await source.rowStampScope(table)
  if (scope === undefined || scope.scope !== parentStamps.scope || !stampsFresh(parentStamps.xid, scope.xid)) return undefined
  // Whether the keys' kinds can be matched server-side (nothing is run for this call).
  if (source.readRecordLinesByKeys(table, []) === undefined) return undefined
  const lines = source.readRowStamps(table)
  if (lines === undefined) return undefined
  const known = alignStamps(parentStamps, parent)
  const seen = new Uint8Array(parent.count)
  const candidates = new Map<string, number>()
  let rows = 0
  stampsWriter.beginTable(table.name, scope)
  // The keys come in the table's physical order, and so did the parent's (its rows in the same
  // order, or a full backup's in key order, which a table written in key order has too): the
  // row after the parent's entry `next - 1` is most often its entry `next`, whose key text is
  // compared as bytes, no string made and nothing hashed. Any other row is looked up by its key
  // digest, as every row once was, and the guess follows it; so the order only saves work, and
  // a row out of place costs what it always did. Unchanged entries whose stamps sit at the same
  // place in the parent's stamps file are copied in runs, bytes as they are, into both new files.
  let next = 0
  const runs = new UnchangedRuns(index, stampsWriter, parent, parentStamps.entries, STAMPS_ENTRY_BYTES)
  for await (const chunk of lines) {
    for (let begin = 0; begin < chunk.length; ) {
      const end = chunk.indexOf(0x0a, begin)
      const tab = chunk.lastIndexOf(0x02, end)
      let stamp = 0
      for (let i = tab + 1; i < end; i++) stamp = stamp * 10 + (chunk[i]! - 0x30)
      let text: string | undefined
      let at = next < parent.count && parent.keyTextEquals(next, chunk, begin, tab) ? next : -1
      if (at < 0) {
        text = chunk.toString('utf8', begin, tab)
        at = parent.find(shortDigest(text))
      }
      rows++
      if (at >= 0) {
        seen[at] = 1
        next = at + 1
      }
      const how = at >= 0 && known.stamps[at] === stamp ? known.known[at]! : 0
      if (how === 2) {
        if (!runs.extend(at)) await runs.add(at)
      } else if (how === 1) {
        await runs.flush()
        await index.addEntries(parent.entryBytes(at, at + 1))
        await stampsWriter.add(parent.keyDigest(at), stamp)
      } else {
        candidates.set(text ?? chunk.toString('utf8', begin, tab), stamp)
      }
      begin = end + 1
    }
  }
  await runs.flush()
  const changed = await writeCandidates(source, writer, index, table, parent, candidates, 'xmin', (keyDigest, stamp) => stampsWriter.add(keyDigest, stamp))
  await stampsWriter.endTable()
  return { deleted: deletedKeys(parent, seen), rows, changed, stamped: true }
}

/**
 * Runs of the parent's entries an increment found unchanged, copied into the new digest index and
 * row stamps as the parent's bytes, a run at a time: for entries whose stamps sit at the same place
 * in the parent's stamps file as the entries in its index (`entryBytes` each).
 */
export class UnchangedRuns {
  readonly #index: DigestIndexWriter
  readonly #stampsWriter: RowStampsWriter
  readonly #parent: TableDigests
  readonly #stamps: Buffer
  readonly #entryBytes: number
  #from = 0
  #to = 0
  constructor(index: DigestIndexWriter, stampsWriter: RowStampsWriter, parent: TableDigests, stamps: Buffer, entryBytes: number) {
    this.#index = index
    this.#stampsWriter = stampsWriter
    this.#parent = parent
    this.#stamps = stamps
    this.#entryBytes = entryBytes
  }

  /**
   * Extends the current run by parent entry `at` when it follows it, and says whether it did: no
   * promise made (add's), which for the most rows of an increment is all there is to do.
   */
  extend(at: number): boolean {
    if (at !== this.#to || this.#to === this.#from) return false
    this.#to++
    return true
  }

  /** Parent entry `at` is unchanged: extends the current run when it follows it, else starts one. */
  async add(at: number): Promise<void> {
    if (this.extend(at)) return
    await this.flush()
    this.#from = at
    this.#to = at + 1
  }

  /** Writes the current run, before anything else goes into the new files. */
  async flush(): Promise<void> {
    if (this.#from === this.#to) return
    await this.#index.addEntries(this.#parent.entryBytes(this.#from, this.#to))
    await this.#stampsWriter.addRaw(this.#stamps.subarray(this.#from * this.#entryBytes, this.#to * this.#entryBytes))
    this.#from = this.#to = 0
  }
}

/**
 * The rows whose stamps did not vouch for them (`candidates`: key text → stamp), fetched by key
 * in batches and compared with the parent by digest: each goes into the new index and, through
 * `stamp`, the new stamps file; the new and changed ones into the increment. Returns how many
 * were written. Every candidate must come back (same snapshot): `what` names the stamps in the
 * InternalError when one does not.
 */
export async function writeCandidates<S>(
  source: Source,
  writer: BackupWriter,
  index: DigestIndexWriter,
  table: TableSchema,
  parent: TableDigests,
  candidates: Map<string, S>,
  what: string,
  stamp: (keyDigest: Buffer, stamp: S) => Promise<void>,
): Promise<number> {
  let changed = 0
  for await (const lines of recordLinesByKeys(source, table, [...candidates.keys()])) {
    const kept: Buffer[] = []
    for (const { line, body, text } of lines) {
      const value = candidates.get(text)
      if (value === undefined) {
        throw new InternalError(`Incremental backup of "${table.name}": the key ${text} read with its record line was not among the keys read with their ${what} (the two spell keys differently).`)
      }
      candidates.delete(text)
      const keyDigest = shortDigest(text)
      const rowDigest = shortDigest(body)
      await index.add(keyDigest, rowDigest, text)
      await stamp(keyDigest, value)
      const at = parent.find(keyDigest)
      if (at < 0 || !parent.sameRow(at, rowDigest)) kept.push(line)
    }
    if (kept.length > 0) changed += await writer.writeRecordLines(Buffer.concat(kept))
  }
  if (candidates.size > 0) {
    throw new InternalError(`Incremental backup of "${table.name}": ${candidates.size} rows read with their ${what} were not found again by key in the same snapshot.`)
  }
  return changed
}

/** The lines of `Source.readRowStamps` (`<key text> 0x02 <xmin>\n`, whole lines per chunk) as key texts and xmins. */
async function* keyStamps(chunks: AsyncIterable<Buffer>): AsyncGenerator<{ text: string; stamp: number }> {
  for await (const chunk of chunks) {
    for (let begin = 0; begin < chunk.length; ) {
      const end = chunk.indexOf(0x0a, begin)
      const tab = chunk.lastIndexOf(0x02, end)
      let stamp = 0
      for (let i = tab + 1; i < end; i++) stamp = stamp * 10 + (chunk[i]! - 0x30)
      yield { text: chunk.toString('utf8', begin, tab), stamp }
      begin = end + 1
    }
  }
}

/**
 * Records the row stamps of a table written another way (a full backup's table, one an increment
 * carries whole or compared by digest): one pass over its keys and xmins. Nothing when the source
 * has no stamps for it.
 */
export async function recordRowStamps(source: Source, table: TableSchema, stampsWriter: RowStampsWriter): Promise<void> {
  const scope = await source.rowStampScope?.(table)
  const lines = scope === undefined ? undefined : source.readRowStamps?.(table)
  if (scope === undefined || lines === undefined) return
  stampsWriter.beginTable(table.name, scope)
  if (scope.kind === 'digest') {
    for await (const { text, stamp } of keyDigestStamps(lines)) await stampsWriter.addDigest(shortDigest(text), stamp)
  } else {
    for await (const { text, stamp } of keyStamps(lines)) await stampsWriter.add(shortDigest(text), stamp)
  }
  await stampsWriter.endTable()
}

/** The directory an incremental backup goes to: `out` must be one (its parent is looked up there). */
export function incrementalDirectory(out: string, isFile: boolean): string {
  if (isFile) {
    throw new UsageError(`An incremental backup is written into a backup directory, where its parent and chain are found: --out ${out} names a file. Give a directory.`, {
      code: 'BAD_OPTION',
    })
  }
  return path.resolve(out)
}
