/**
 * Increments by block digests (SQLite, docs/performance.md §Round seven): the parent's index
 * entries come in blocks of a few consecutive rows, each with the digest of its record lines
 * (storage/row-blocks.ts). The table is cut into key ranges at each block's first key
 * (Source.lineBlocks: the ranges hold every row once, rows inserted between two blocks, before the
 * first or after the last included), and SQLite hands over each range's lines as one value instead
 * of one value per row. A range whose lines hash to its parent block's digest holds exactly that
 * block's rows, unchanged: their entries are copied from the parent's index. The other ranges are
 * read row by row and compared with the parent's entries by key and row digest, as every row is
 * otherwise. Undefined (nothing read) when the parent has no usable blocks for the table or the
 * source cannot cut it: the caller then compares every row (incremental.ts writeTableChanges).
 * A table keyed by one TEXT column is read instead as readRecordLines' stream, cut at the same
 * ranges here (writeChangesByStream): the same increment, index and blocks.
 */
import { isUtf8 } from 'node:buffer'
import type { LineBlocks, Source, TableSchema } from '../adapters/adapter.js'
import type { BackupWriter } from '../format/writer.js'
import { keyCutter, keyText, shortDigest, type DigestIndexWriter, type TableDigests } from '../storage/digest-index.js'
import { BLOCK_ENTRY_BYTES, BLOCK_ROWS, blockDigestEquals, type TableBlocks } from '../storage/row-blocks.js'
import { deletedKeys } from './incremental.js'

/** Ranges looked at before a table is cut, to find one whose values SQLite mostly cannot spell. */
const SAMPLE_BLOCKS = 32

export async function writeChangesByBlocks(
  source: Source,
  writer: BackupWriter,
  index: DigestIndexWriter,
  table: TableSchema,
  parent: TableDigests,
  parentBlocks: TableBlocks,
): Promise<{ deleted: unknown[][]; rows: number; changed: number; blocks: Uint8Array } | undefined> {
  const { count, starts } = parentBlocks
  if (parentBlocks.columns !== parent.columns || count === 0 || starts[count] !== parent.count || source.lineBlocks === undefined) return undefined
  const firstKeys: string[] = []
  for (let b = 0; b < count; b++) firstKeys.push(parent.keyText(starts[b]!))
  const ranges = source.lineBlocks(table, firstKeys)
  if (ranges === undefined) return undefined
  // A range holding a value SQLite left to JavaScript (0x01: a real sqlRealText cannot spell, such
  // as 1/3 or a coordinate of 7 places) is read again row by row. A table where most ranges do
  // would be read nearly twice, and a statement per range: when more than 7 in 8 of its first
  // ranges do (a column of thirds, of coordinates to 7 places), it is compared row by row whole.
  const sampled = Math.min(count, SAMPLE_BLOCKS)
  let unspelled = 0
  for (let b = 0; b < sampled; b++) if (ranges.block(b)?.includes(1) === true) unspelled++
  if (unspelled * 8 > sampled * 7) return undefined
  // A table keyed by one TEXT column is read as a full backup reads it and cut here (writeChangesByStream):
  // at scale 5, Registration 1.33 → 1.12 s of CPU (medians of 8 pairs). Not the others: a rowid key's ranges
  // (Message) cost what the stream does, and a composite key's table (RoomAllocation) takes the
  // row path in a stream, dearer than its ranges (docs/performance.md §Round fifteen: SQLite increments).
  const textKey = table.primaryKey.length === 1 && table.columns.find((c) => c.name === table.primaryKey[0])?.kind === 'text'
  const stream = textKey && ranges.keyFrom !== undefined ? source.readRecordLines?.(table) : undefined
  if (stream !== undefined) return writeChangesByStream(stream, ranges, writer, index, table, parent, parentBlocks)
  const walk = new BlockWalk(index, table, parent, parentBlocks)
  let changed = 0
  for (let b = 0; b < count; b++) {
    const lines = ranges.block(b)
    // 0x01: a value SQLite left to JavaScript; not UTF-8: text the backup holds otherwise.
    if (lines !== undefined && lines.indexOf(1) < 0 && isUtf8(lines) && blockDigestEquals(parentBlocks, b, shortDigest(lines))) {
      await walk.unchanged(b)
      continue
    }
    await walk.flush()
    const read = ranges.rows(b)
    const kept: Buffer[] = []
    let blockFrom = 0
    let inBlock = 0
    for (let start = 0; start < read.length; ) {
      const end = read.indexOf(0x0a, start)
      if (await walk.row(read.subarray(start, end))) kept.push(read.subarray(start, end + 1))
      start = end + 1
      // The range's rows make new blocks of BLOCK_ROWS rows at most for the next increment.
      if (++inBlock === BLOCK_ROWS || start >= read.length) {
        walk.blocks.push(blockEntry(inBlock, read.subarray(blockFrom, start)))
        blockFrom = start
        inBlock = 0
      }
    }
    if (kept.length > 0) changed += await writer.writeRecordLines(Buffer.concat(kept))
  }
  await walk.flush()
  return { deleted: deletedKeys(parent, walk.seen), rows: walk.rows, changed, blocks: Buffer.concat(walk.blocks) }
}

/**
 * A table's walk against the parent's blocks: runs of unchanged blocks next to each other are
 * copied as one run of the parent's entries and block digests; other rows are compared one by one.
 */
class BlockWalk {
  readonly seen: Uint8Array
  readonly blocks: Buffer[] = []
  rows = 0
  readonly #index: DigestIndexWriter
  readonly #table: TableSchema
  readonly #parent: TableDigests
  readonly #parentBlocks: TableBlocks
  readonly #cutter: (line: Buffer) => string | undefined
  #from = 0
  #to = 0

  constructor(index: DigestIndexWriter, table: TableSchema, parent: TableDigests, parentBlocks: TableBlocks) {
    this.#index = index
    this.#table = table
    this.#parent = parent
    this.#parentBlocks = parentBlocks
    this.#cutter = keyCutter(table)
    this.seen = new Uint8Array(parent.count)
  }

  /** The key text of a record line (without its '\n'). */
  keyOf(body: Buffer): string {
    return this.#cutter(body) ?? keyText(JSON.parse(body.toString('utf8')) as Record<string, unknown>, this.#table.primaryKey)
  }

  /** Parent block `b` is unchanged: extends the current run when it follows it, else starts one. */
  async unchanged(b: number): Promise<void> {
    if (this.#to === b && this.#to > this.#from) {
      this.#to++
      return
    }
    await this.flush()
    this.#from = b
    this.#to = b + 1
  }

  /** Writes the current run, before anything else goes into the new index. */
  async flush(): Promise<void> {
    if (this.#from === this.#to) return
    const starts = this.#parentBlocks.starts
    await this.#index.addEntries(this.#parent.entryBytes(starts[this.#from]!, starts[this.#to]!))
    this.seen.fill(1, starts[this.#from]!, starts[this.#to]!)
    this.rows += starts[this.#to]! - starts[this.#from]!
    this.blocks.push(this.#parentBlocks.entries.subarray(this.#from * BLOCK_ENTRY_BYTES, this.#to * BLOCK_ENTRY_BYTES))
    this.#from = this.#to = 0
  }

  /** One row read (its line without the '\n', `key` its key text when known): its entry; whether it is new or changed. */
  async row(body: Buffer, key?: string): Promise<boolean> {
    const text = key ?? this.keyOf(body)
    const keyDigest = shortDigest(text)
    const rowDigest = shortDigest(body)
    await this.#index.add(keyDigest, rowDigest, text)
    const at = this.#parent.find(keyDigest)
    if (at >= 0) this.seen[at] = 1
    this.rows++
    return at < 0 || !this.#parent.sameRow(at, rowDigest)
  }
}

function blockEntry(rows: number, lines: Buffer): Buffer {
  const entry = Buffer.allocUnsafe(BLOCK_ENTRY_BYTES)
  entry.writeUInt16BE(rows, 0)
  shortDigest(lines).copy(entry, 2)
  return entry
}

/**
 * writeChangesByBlocks over readRecordLines' stream instead of a statement per key range
 * (docs/performance.md §Round fifteen: SQLite increments): the table is read as a full backup
 * reads it (SQLite: a chunk of 500 rows' lines as one value, in key order), and the stream is cut
 * at the ranges' bounds here. At each range, the next lines, as many as the parent's block has
 * rows, are hashed; when they are the block's lines and the range ends after them (the next line
 * is the next block's, or one whose key is past the range's end, `LineBlocks.keyFrom`, or there is
 * none), the block is unchanged, as when its range's value hashed the same. Any other range is read
 * row by row up to the first row of a later range, compared by key and row digest, and made into
 * new blocks: the same rows, calls and bytes as writeChangesByBlocks' own walk (a row whose key
 * keyFrom cannot place stays in the range being read: other blocks, as valid, than a statement's
 * range would make). Exactness does not rest on the cut: every line is either in a block whose
 * digest is the parent's (the parent's very rows, entries copied) or compared by its digests.
 */
async function writeChangesByStream(
  stream: AsyncIterable<Buffer>,
  ranges: LineBlocks,
  writer: BackupWriter,
  index: DigestIndexWriter,
  table: TableSchema,
  parent: TableDigests,
  parentBlocks: TableBlocks,
): Promise<{ deleted: unknown[][]; rows: number; changed: number; blocks: Uint8Array }> {
  const { count, starts } = parentBlocks
  const keyFrom = ranges.keyFrom!
  const walk = new BlockWalk(index, table, parent, parentBlocks)
  let changed = 0
  // The stream's lines not yet taken: `buffer` from `pos` (whole lines). Pulling a chunk moves them
  // to the start of a new buffer, so offsets are kept relative to `pos` across a pull.
  const iterator = stream[Symbol.asyncIterator]()
  let buffer: Buffer = Buffer.alloc(0)
  let pos = 0
  let done = false
  /** The offset after `n` lines from `from`, or -1 when fewer are there. */
  const after = (from: number, n: number): number => {
    let at = from
    for (let i = 0; i < n; i++) {
      if (at >= buffer.length) return -1
      const end = buffer.indexOf(0x0a, at)
      if (end < 0) return -1
      at = end + 1
    }
    return at
  }
  /** At least `n` lines from `pos`, or all there are. */
  const fill = async (n: number): Promise<void> => {
    while (!done && after(pos, n) < 0) {
      const next = await iterator.next()
      if (next.done === true) done = true
      else {
        buffer = pos === buffer.length ? next.value : Buffer.concat([buffer.subarray(pos), next.value])
        pos = 0
      }
    }
  }
  /** The offset after block `b`'s lines when the lines from `from` are those (same digest), else -1. */
  const match = (from: number, b: number): number => {
    const end = after(from, starts[b + 1]! - starts[b]!)
    return end >= 0 && blockDigestEquals(parentBlocks, b, shortDigest(buffer.subarray(from, end))) ? end : -1
  }
  // Block b + 1's lines found right after block b's (bytes from `pos`), when they were.
  let ahead: { b: number; bytes: number } | undefined
  try {
    for (let b = 0; b < count; b++) {
      const rowsHere = starts[b + 1]! - starts[b]!
      const last = b + 1 === count
      await fill(rowsHere + (last ? 0 : starts[b + 2]! - starts[b + 1]!) + 1)
      const end = ahead?.b === b ? pos + ahead.bytes : match(pos, b)
      ahead = undefined
      if (end >= 0) {
        // The block's lines: is the range those alone?
        let alone: boolean
        if (end >= buffer.length) alone = true
        else if (last) alone = false
        else {
          const next = match(end, b + 1)
          if (next >= 0) ahead = { b: b + 1, bytes: next - end }
          alone = next >= 0 || keyFrom(walk.keyOf(buffer.subarray(end, buffer.indexOf(0x0a, end))), b + 1) === true
        }
        if (alone) {
          await walk.unchanged(b)
          pos = end
          continue
        }
        ahead = undefined
      }
      await walk.flush()
      // The range's rows one by one, up to the first of a later range.
      const kept: Buffer[] = []
      let inBlock: Buffer[] = []
      for (;;) {
        await fill(1)
        if (pos >= buffer.length) break
        const lineEnd = buffer.indexOf(0x0a, pos)
        const body = buffer.subarray(pos, lineEnd)
        const text = walk.keyOf(body)
        if (!last && keyFrom(text, b + 1) === true) break
        const line = buffer.subarray(pos, lineEnd + 1)
        if (await walk.row(body, text)) kept.push(line)
        pos = lineEnd + 1
        // The range's rows make new blocks of BLOCK_ROWS rows at most for the next increment.
        inBlock.push(line)
        if (inBlock.length === BLOCK_ROWS) {
          walk.blocks.push(blockEntry(inBlock.length, Buffer.concat(inBlock)))
          inBlock = []
        }
      }
      if (inBlock.length > 0) walk.blocks.push(blockEntry(inBlock.length, Buffer.concat(inBlock)))
      if (kept.length > 0) changed += await writer.writeRecordLines(Buffer.concat(kept))
    }
    await walk.flush()
  } finally {
    if (!done) await iterator.return?.()
  }
  return { deleted: deletedKeys(parent, walk.seen), rows: walk.rows, changed, blocks: Buffer.concat(walk.blocks) }
}
