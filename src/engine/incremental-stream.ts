/**
 * PostgreSQL increments in flat memory (issue #17, #18; docs/performance.md §Round ten): the
 * parent's index and stamps entries of a table are merged with the table's current keys and
 * xmins as two streams in the same key order (adapters/key-order.ts), so neither the parent's
 * table nor the current one is ever held whole, only a batch of each.
 *
 * The parent's entries are in that order when its section's header says so (`order`, written by
 * a full backup, whose rows are read in it, and by an increment made here); the current rows come
 * sorted from the server (Source.readRowStampsInKeyOrder), each with its record line's digest when
 * it was written since the parent (xmin at or after the parent's snapshot). So for each row:
 *
 *   - same key, same xmin as the parent recorded: unchanged, its entries copied in runs as bytes;
 *   - same key, another xmin: the server's digest says whether it changed (an update to the same
 *     values is not a change); its entries are written where it stands;
 *   - a key the parent lacks (it sorts before the parent's next entry): inserted;
 *   - a parent entry passed without its key: deleted.
 *
 * Only the rows written since are fetched, by key, for their record lines. The new index and
 * stamps are written in the key order again, so the next increment streams too.
 *
 * The order only saves memory, never decides the result: a row the merge could not place (a
 * comparison misjudged, a parent entry out of order) is held aside and matched by key at the end,
 * and a row without a digest whose xmin changed (written by a transaction that was running at the
 * parent's snapshot) is fetched and compared by digest as the other paths do.
 */
import type { Source, TableSchema } from '../adapters/adapter.js'
import { keyOrder } from '../adapters/key-order.js'
import { recordLinesByKeys } from './fetch-by-keys.js'
import { InternalError } from '../errors.js'
import type { BackupWriter } from '../format/writer.js'
import { DIGEST_BYTES, keyText, shortDigest, type DigestIndexReader, type DigestIndexWriter } from '../storage/digest-index.js'
import { STAMPS_ENTRY_BYTES, stampsFresh, type RowStampsReader, type RowStampsWriter, type StampsHead } from '../storage/row-stamps.js'

/** The size of the batches the parent's entries are read in (each side). */
const BATCH_BYTES = 256 * 1024
const EMPTY = Buffer.alloc(0)
const ENTRY = STAMPS_ENTRY_BYTES

/** What a table's stream needs, checked before anything of it is read (prepareStampStream). */
export interface StampStream {
  readonly lines: AsyncIterable<Buffer>
  readonly scope: { readonly scope: string; readonly xid: string }
  readonly order: (a: string, b: string) => number
}

/**
 * Whether table `table` can be compared as a stream with its parent's entries (the index's head
 * read, with `order`; the stamps' head `stampsHead`, of xmins, of the same scope and recent
 * enough), and its current rows' stream if so. Nothing of the parent is read.
 */
export async function prepareStampStream(source: Source, table: TableSchema, stampsHead: StampsHead | undefined): Promise<StampStream | undefined> {
  if (stampsHead === undefined || stampsHead.kind !== undefined) return undefined
  if (source.rowStampScope === undefined || source.readRowStampsInKeyOrder === undefined || source.readRecordLinesByKeys === undefined) return undefined
  const order = keyOrder(table)
  if (order === undefined) return undefined
  // Whether the keys' kinds can be matched server-side (nothing is run for this call).
  if (source.readRecordLinesByKeys(table, []) === undefined) return undefined
  const scope = await source.rowStampScope(table)
  if (scope === undefined || scope.kind !== undefined || scope.scope !== stampsHead.scope || !stampsFresh(stampsHead.xid, scope.xid)) return undefined
  const lines = source.readRowStampsInKeyOrder(table, stampsHead.xid)
  if (lines === undefined) return undefined
  return { lines, scope, order }
}

/**
 * The parent's entries of one table, its index's and its stamps' side by side, a batch of each in
 * memory. Entry `i` of the stamps is taken as the stamp of entry `i` of the index only when its
 * key digest is that entry's (both are written in the same order); otherwise the entry has no
 * stamp. Unchanged entries are copied into the new index and stamps in runs of their bytes.
 */
class ParentEntries {
  readonly #index: AsyncIterator<{ body: Buffer; offsets: Uint32Array }>
  readonly #stamps: AsyncIterator<Buffer> | undefined
  readonly #indexWriter: DigestIndexWriter
  readonly #stampsWriter: RowStampsWriter
  #body: Buffer = EMPTY
  #offsets: Uint32Array = new Uint32Array(1)
  #i = 0
  #n = 0
  #stampBytes: Buffer = EMPTY
  #j = 0
  #stampsDone: boolean
  done = false
  #runFrom = -1
  #runStampFrom = 0

  private constructor(index: AsyncIterator<{ body: Buffer; offsets: Uint32Array }>, stamps: AsyncIterator<Buffer> | undefined, indexWriter: DigestIndexWriter, stampsWriter: RowStampsWriter) {
    this.#index = index
    this.#stamps = stamps
    this.#stampsDone = stamps === undefined
    this.#indexWriter = indexWriter
    this.#stampsWriter = stampsWriter
  }

  static async open(index: DigestIndexReader, stamps: RowStampsReader, indexWriter: DigestIndexWriter, stampsWriter: RowStampsWriter): Promise<ParentEntries> {
    const entries = new ParentEntries(index.entries(BATCH_BYTES)[Symbol.asyncIterator](), stamps.entries(BATCH_BYTES)[Symbol.asyncIterator](), indexWriter, stampsWriter)
    await entries.refill()
    return entries
  }

  /** Whether the current entry's key text is `bytes[begin, end)`. */
  keyTextEquals(bytes: Buffer, begin: number, end: number): boolean {
    const from = this.#offsets[this.#i]! + 3 + 2 * DIGEST_BYTES
    const length = end - begin
    if (this.#offsets[this.#i + 1]! - from !== length) return false
    const data = this.#body
    for (let k = 0; k < length; k++) if (data[from + k] !== bytes[begin + k]) return false
    return true
  }

  keyText(): string {
    return this.#body.toString('utf8', this.#offsets[this.#i]! + 3 + 2 * DIGEST_BYTES, this.#offsets[this.#i + 1]!)
  }

  /** The current entry's key digest (a copy). */
  keyDigest(): Buffer {
    const at = this.#offsets[this.#i]! + 1
    return Buffer.from(this.#body.subarray(at, at + DIGEST_BYTES))
  }

  /** The current entry's row digest (a copy). */
  rowDigest(): Buffer {
    const at = this.#offsets[this.#i]! + 1 + DIGEST_BYTES
    return Buffer.from(this.#body.subarray(at, at + DIGEST_BYTES))
  }

  sameRow(rowDigest: Buffer): boolean {
    const at = this.#offsets[this.#i]! + 1 + DIGEST_BYTES
    return this.#body.compare(rowDigest, 0, DIGEST_BYTES, at, at + DIGEST_BYTES) === 0
  }

  /** The current entry's xmin, or -1 when the stamps entry beside it is not its own. */
  stamp(): number {
    const s = this.#stampBytes
    const j = this.#j
    if (j + ENTRY > s.length) return -1
    const data = this.#body
    const from = this.#offsets[this.#i]! + 1
    for (let k = 0; k < DIGEST_BYTES; k++) if (data[from + k] !== s[j + 1 + k]) return -1
    return ((s[j + 17]! << 24) | (s[j + 18]! << 16) | (s[j + 19]! << 8) | s[j + 20]!) >>> 0
  }

  /** The current entry is unchanged (its stamp() was its own): it joins the run to copy. */
  keep(): void {
    if (this.#runFrom < 0) {
      this.#runFrom = this.#i
      this.#runStampFrom = this.#j
    }
  }

  /** Writes the run of kept entries before the current one. */
  async flush(): Promise<void> {
    if (this.#runFrom < 0) return
    await this.#indexWriter.addEntries(this.#body.subarray(this.#offsets[this.#runFrom]!, this.#offsets[this.#i]!))
    await this.#stampsWriter.addRaw(this.#stampBytes.subarray(this.#runStampFrom, this.#j))
    this.#runFrom = -1
  }

  /** Moves to the next entry; false when a batch ended, and `refill` must be awaited first. */
  step(): boolean {
    this.#i++
    this.#j += ENTRY
    return this.#i < this.#n && (this.#stampsDone || this.#j < this.#stampBytes.length)
  }

  /** Reads the next batch of the side(s) whose batch ended (the run is written first). */
  async refill(): Promise<void> {
    await this.flush()
    if (!this.#stampsDone && this.#j >= this.#stampBytes.length) {
      const next = await this.#stamps!.next()
      if (next.done === true) {
        this.#stampsDone = true
        this.#stampBytes = EMPTY
      } else this.#stampBytes = next.value
      this.#j = 0
    }
    while (this.#i >= this.#n) {
      const next = await this.#index.next()
      if (next.done === true) {
        this.done = true
        return
      }
      this.#body = next.value.body
      this.#offsets = next.value.offsets
      this.#i = 0
      this.#n = next.value.offsets.length - 1
    }
  }

  /** Moves to the next entry, reading the next batch when needed. */
  async next(): Promise<void> {
    if (!this.step()) await this.refill()
  }

  /** Reads the rest of both sides, so that the readers stand after this table (the stamps may have more entries than the index). */
  async close(): Promise<void> {
    while (!this.done && !(await this.#index.next()).done);
    this.done = true
    if (!this.#stampsDone) while (!(await this.#stamps!.next()).done);
    this.#stampsDone = true
  }
}

/**
 * Writes one table's changes since the parent as a merge of two streams (this file's doc):
 * `parent` and `parentStamps` stand at the table's entries (their heads read), `stream` from
 * prepareStampStream. The new index's table was begun by the caller, with the key order.
 */
export async function writeChangesByStampStream(
  source: Source,
  writer: BackupWriter,
  index: DigestIndexWriter,
  stampsWriter: RowStampsWriter,
  table: TableSchema,
  parent: DigestIndexReader,
  parentStamps: RowStampsReader,
  stream: StampStream,
): Promise<{ deleted: unknown[][]; rows: number; changed: number; stamped: boolean }> {
  const { order } = stream
  const compare = (a: string, b: string): number => {
    try {
      return order(a, b)
    } catch {
      // A key this side cannot compare: taken as new, and matched by key at the end.
      return -1
    }
  }
  stampsWriter.beginTable(table.name, stream.scope)
  const entries = await ParentEntries.open(parent, parentStamps, index, stampsWriter)
  /** Keys of the rows written since the parent and changed (or new): their lines are fetched. */
  const changed = new Set<string>()
  /** Rows new to the merge while the parent still had entries: a later entry of the same key is then not a delete. */
  const inserted = new Map<string, Buffer>()
  /** Parent entries passed without their key: deleted, unless a row of that key was put aside. */
  const gone: { text: string; rowDigest: Buffer }[] = []
  /** Rows whose xmin changed but that came without a digest: fetched and compared by digest. */
  const unknown = new Map<string, { stamp: number; parentDigest?: Buffer }>()
  let rows = 0
  {
    for await (const chunk of stream.lines) {
      for (let begin = 0; begin < chunk.length; ) {
        const end = chunk.indexOf(0x0a, begin)
        const tab = chunk.indexOf(0x02, begin)
        const tab2 = chunk.indexOf(0x02, tab + 1)
        if (end < 0 || tab < 0 || tab2 < 0 || tab2 > end) throw new InternalError(`Incremental backup of "${table.name}": a line of keys and xmins is not one.`)
        let stamp = 0
        for (let i = tab + 1; i < tab2; i++) stamp = stamp * 10 + (chunk[i]! - 0x30)
        rows++
        let text: string | undefined
        // Parent entries before this key are gone (a row that is only out of order is matched at the end).
        let matched = false
        while (!entries.done) {
          if (entries.keyTextEquals(chunk, begin, tab)) {
            matched = true
            break
          }
          text ??= chunk.toString('utf8', begin, tab)
          const parentText = entries.keyText()
          if (compare(text, parentText) < 0) break
          await entries.flush()
          gone.push({ text: parentText, rowDigest: entries.rowDigest() })
          await entries.next()
        }
        if (matched && entries.stamp() === stamp) {
          entries.keep()
        } else {
          await entries.flush()
          text ??= chunk.toString('utf8', begin, tab)
          if (tab2 + 1 < end) {
            const rowDigest = Buffer.from(chunk.toString('latin1', tab2 + 1, end), 'hex')
            const keyDigest = matched ? entries.keyDigest() : shortDigest(text)
            await index.add(keyDigest, rowDigest, text)
            await stampsWriter.add(keyDigest, stamp)
            if (!matched || !entries.sameRow(rowDigest)) changed.add(text)
            if (!matched && !entries.done) inserted.set(text, rowDigest)
          } else {
            unknown.set(text, matched ? { stamp, parentDigest: entries.rowDigest() } : { stamp })
          }
        }
        if (matched && !entries.step()) await entries.refill()
        begin = end + 1
      }
    }
    while (!entries.done) {
      await entries.flush()
      gone.push({ text: entries.keyText(), rowDigest: entries.rowDigest() })
      await entries.next()
    }
    await entries.flush()
    await entries.close()
  }
  // Parent entries passed whose key came later (out of order): not deleted.
  const deleted: unknown[][] = []
  for (const { text, rowDigest } of gone) {
    const digest = inserted.get(text)
    const aside = unknown.get(text)
    if (digest !== undefined) {
      if (digest.equals(rowDigest)) changed.delete(text)
    } else if (aside !== undefined) {
      aside.parentDigest = rowDigest
    } else {
      deleted.push(JSON.parse(text) as unknown[])
    }
  }
  let written = await fetchLines(source, writer, table, changed, async () => true)
  written += await fetchLines(source, writer, table, new Set(unknown.keys()), async (text, body) => {
    const { stamp, parentDigest } = unknown.get(text)!
    const keyDigest = shortDigest(text)
    const rowDigest = shortDigest(body)
    await index.add(keyDigest, rowDigest, text)
    await stampsWriter.add(keyDigest, stamp)
    return parentDigest === undefined || !parentDigest.equals(rowDigest)
  })
  await stampsWriter.endTable()
  return { deleted, rows, changed: written, stamped: true }
}

/**
 * The record lines of the rows of keys `keys` (key texts; the set is emptied), fetched in batches;
 * `keep(text, body)` says whether a line goes into the increment. Every key must come back (the
 * same snapshot): an InternalError otherwise. Returns how many lines were written.
 */
async function fetchLines(source: Source, writer: BackupWriter, table: TableSchema, keys: Set<string>, keep: (text: string, body: Buffer) => Promise<boolean>): Promise<number> {
  let written = 0
  for await (const lines of recordLinesByKeys(source, table, [...keys])) {
    const kept: Buffer[] = []
    for (const { line, body, text } of lines) {
      if (!keys.delete(text)) {
        throw new InternalError(`Incremental backup of "${table.name}": the key ${text} read with its record line was not among the keys read with their xmin (the two spell keys differently).`)
      }
      if (await keep(text, body)) kept.push(line)
    }
    if (kept.length > 0) written += await writer.writeRecordLines(Buffer.concat(kept))
  }
  if (keys.size > 0) {
    throw new InternalError(`Incremental backup of "${table.name}": ${keys.size} rows read with their xmin were not found again by key in the same snapshot.`)
  }
  return written
}
