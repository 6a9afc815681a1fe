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
 */
import { isUtf8 } from 'node:buffer'
import type { Source, TableSchema } from '../adapters/adapter.js'
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
  const seen = new Uint8Array(parent.count)
  const cutter = keyCutter(table)
  const blocks: Buffer[] = []
  let rows = 0
  let changed = 0
  // Unchanged blocks next to each other are copied as one run of the parent's entries and blocks.
  let runFrom = 0
  let runTo = 0
  const flushRun = async (): Promise<void> => {
    if (runFrom === runTo) return
    await index.addEntries(parent.entryBytes(starts[runFrom]!, starts[runTo]!))
    seen.fill(1, starts[runFrom]!, starts[runTo]!)
    rows += starts[runTo]! - starts[runFrom]!
    blocks.push(parentBlocks.entries.subarray(runFrom * BLOCK_ENTRY_BYTES, runTo * BLOCK_ENTRY_BYTES))
    runFrom = runTo = 0
  }
  for (let b = 0; b < count; b++) {
    const lines = ranges.block(b)
    // 0x01: a value SQLite left to JavaScript; not UTF-8: text the backup holds otherwise.
    if (lines !== undefined && lines.indexOf(1) < 0 && isUtf8(lines) && blockDigestEquals(parentBlocks, b, shortDigest(lines))) {
      if (runTo === b && runTo > runFrom) runTo++
      else {
        await flushRun()
        runFrom = b
        runTo = b + 1
      }
      continue
    }
    await flushRun()
    const read = ranges.rows(b)
    const kept: Buffer[] = []
    let blockFrom = 0
    let inBlock = 0
    for (let start = 0; start < read.length; ) {
      const end = read.indexOf(0x0a, start)
      const body = read.subarray(start, end)
      const text = cutter(body) ?? keyText(JSON.parse(body.toString('utf8')) as Record<string, unknown>, table.primaryKey)
      const keyDigest = shortDigest(text)
      const rowDigest = shortDigest(body)
      await index.add(keyDigest, rowDigest, text)
      const at = parent.find(keyDigest)
      if (at >= 0) seen[at] = 1
      if (at < 0 || !parent.sameRow(at, rowDigest)) kept.push(read.subarray(start, end + 1))
      rows++
      start = end + 1
      // The range's rows make new blocks of BLOCK_ROWS rows at most for the next increment.
      if (++inBlock === BLOCK_ROWS || start >= read.length) {
        blocks.push(blockEntry(inBlock, read.subarray(blockFrom, start)))
        blockFrom = start
        inBlock = 0
      }
    }
    if (kept.length > 0) changed += await writer.writeRecordLines(Buffer.concat(kept))
  }
  await flushRun()
  return { deleted: deletedKeys(parent, seen), rows, changed, blocks: Buffer.concat(blocks) }
}

function blockEntry(rows: number, lines: Buffer): Buffer {
  const entry = Buffer.allocUnsafe(BLOCK_ENTRY_BYTES)
  entry.writeUInt16BE(rows, 0)
  shortDigest(lines).copy(entry, 2)
  return entry
}
