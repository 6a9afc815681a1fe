/**
 * Increments by row digests the database computes (MariaDB, docs/performance.md §Round six): the
 * parent's stamps file holds, per row, the server's digest of the row's native form
 * (adapters/mysql/mysql-row-digest.ts); the increment reads only every row's key and that digest.
 * A row whose digest is the parent's reads the same, so it is unchanged and goes to the new index
 * with the parent's digests, unread. The others (new, or changed) are fetched as record lines by
 * key and compared with the parent's row digest as always, so a digest that differs without a
 * change costs a fetch, never a wrong increment. Undefined (nothing read) when the table's stamps
 * cannot be compared (another expression or columns: another scope) or the source cannot do it:
 * the caller then hashes every record line (incremental.ts writeTableChanges).
 */
import type { RowDigestBlock, Source, TableSchema } from '../adapters/adapter.js'
import { InternalError } from '../errors.js'
import type { BackupWriter } from '../format/writer.js'
import { DIGEST_BYTES, encodeEntry, shortDigest, type DigestIndexWriter, type TableDigests } from '../storage/digest-index.js'
import { alignDigestStamps, DIGEST_STAMPS_ENTRY_BYTES, locateDigestStamps, type RowStampsWriter, type TableStamps } from '../storage/row-stamps.js'
import { deletedKeys, UnchangedRuns, writeCandidates } from './incremental.js'

/** A row stamps entry of a digest table: 'D' keyDigest[16] rowStamp[16]. */
const STAMP_ENTRY = DIGEST_STAMPS_ENTRY_BYTES

export async function writeChangesByRowDigests(
  source: Source,
  writer: BackupWriter,
  index: DigestIndexWriter,
  stampsWriter: RowStampsWriter,
  table: TableSchema,
  parent: TableDigests,
  parentStamps: TableStamps,
): Promise<{ deleted: unknown[][]; rows: number; changed: number; stamped: boolean } | undefined> {
  if (parentStamps.kind !== 'digest') return undefined
  if (source.rowStampScope === undefined || source.readRowStamps === undefined || source.readRecordLinesByKeys === undefined) return undefined
  const scope = await source.rowStampScope(table)
  if (scope === undefined || scope.kind !== 'digest' || scope.scope !== parentStamps.scope) return undefined
  // Whether the keys' kinds can be matched server-side (nothing is run for this call).
  if (source.readRecordLinesByKeys(table, []) === undefined) return undefined
  const blocks = source.readRowDigestBlocks?.(table)
  if (blocks !== undefined) return writeChangesByDigestBlocks(source, writer, index, stampsWriter, table, parent, parentStamps, scope, blocks)
  const lines = source.readRowStamps(table)
  if (lines === undefined) return undefined
  const known = alignDigestStamps(parentStamps, parent)
  const seen = new Uint8Array(parent.count)
  const candidates = new Map<string, Buffer>()
  let rows = 0
  stampsWriter.beginTable(table.name, scope)
  // Keys come in key order, as the parent's full backup wrote its index: the entry after the
  // last one found is tried first, by its key text's bytes, so that a row in its place needs no
  // key digest computed (only a row moved, new or after a deleted one is hashed and looked up).
  // The index and stamps entries of unchanged rows are encoded here, a chunk at a time.
  let next = 0
  let entries = Buffer.allocUnsafe(1 << 16)
  const stampEntries = Buffer.allocUnsafe(1 << 16)
  for await (const chunk of lines) {
    let used = 0
    let stamped = 0
    for (let begin = 0; begin < chunk.length; ) {
      const end = chunk.indexOf(0x0a, begin)
      const tab = chunk.lastIndexOf(0x02, end)
      if (end < 0 || tab < begin || end - tab - 1 !== 2 * DIGEST_BYTES) throw new InternalError('a key read with its row digest has none, or not one of 32 hex digits')
      let at: number
      let keyDigest: Buffer
      if (next < parent.count && parent.keyTextEquals(next, chunk, begin, tab)) {
        at = next
        keyDigest = parent.keyDigest(at)
      } else {
        keyDigest = shortDigest(chunk.subarray(begin, tab))
        at = parent.find(keyDigest)
      }
      if (at >= 0) {
        seen[at] = 1
        next = at + 1
      }
      if (at >= 0 && known.known[at] === 1 && hexEquals(chunk, tab + 1, known.stamps, at * DIGEST_BYTES)) {
        let after = encodeEntry(entries, used, keyDigest, parent.rowDigest(at), chunk, begin, tab)
        if (after < 0) {
          await index.addEntries(Buffer.from(entries.subarray(0, used)))
          used = 0
          if (entries.length < 3 + 2 * DIGEST_BYTES + tab - begin) entries = Buffer.allocUnsafe(2 * (3 + 2 * DIGEST_BYTES + tab - begin))
          after = encodeEntry(entries, 0, keyDigest, parent.rowDigest(at), chunk, begin, tab)
        }
        used = after
        if (stamped + STAMP_ENTRY > stampEntries.length) {
          stampsWriter.addEntries(stampEntries.subarray(0, stamped))
          stamped = 0
        }
        stampEntries[stamped] = 0x44 // D
        keyDigest.copy(stampEntries, stamped + 1, 0, DIGEST_BYTES)
        known.stamps.copy(stampEntries, stamped + 1 + DIGEST_BYTES, at * DIGEST_BYTES, (at + 1) * DIGEST_BYTES)
        stamped += STAMP_ENTRY
      } else {
        const stamp = Buffer.from(chunk.toString('latin1', tab + 1, end), 'hex')
        if (stamp.length !== DIGEST_BYTES) throw new InternalError('a row digest is not hex')
        candidates.set(chunk.toString('utf8', begin, tab), stamp)
      }
      rows++
      begin = end + 1
    }
    // Copied (the stamps writer copies them itself): the buffers are used again for the next chunk.
    await index.addEntries(Buffer.from(entries.subarray(0, used)))
    stampsWriter.addEntries(stampEntries.subarray(0, stamped))
  }
  const changed = await writeCandidates(source, writer, index, table, parent, candidates, 'row digest', (keyDigest, stamp) => stampsWriter.addDigest(keyDigest, stamp))
  await stampsWriter.endTable()
  return { deleted: deletedKeys(parent, seen), rows, changed, stamped: true }
}

/**
 * writeChangesByRowDigests over blocks of rows (Source.readRowDigestBlocks, docs/performance.md
 * §Round seven): each row is first compared by its digest alone with the parent's entry after the
 * last one found. The digest covers every column, the key's bytes included, so an equal digest is
 * the same key with the same values (barring a SHA-256 collision, as for every digest here): no
 * key is read. Only a row whose digest differs from that entry's has its key text read, and is
 * then looked up as in the line path (same key text in place, else its key digest). Unchanged
 * entries whose stamps sit at the same place in the parent's stamps file are copied in runs,
 * bytes as they are, into both new files.
 */
async function writeChangesByDigestBlocks(
  source: Source,
  writer: BackupWriter,
  index: DigestIndexWriter,
  stampsWriter: RowStampsWriter,
  table: TableSchema,
  parent: TableDigests,
  parentStamps: TableStamps,
  scope: { readonly scope: string; readonly xid: string; readonly kind?: 'xmin' | 'digest' },
  blocks: AsyncIterable<RowDigestBlock>,
): Promise<{ deleted: unknown[][]; rows: number; changed: number; stamped: boolean }> {
  const stampAt = locateDigestStamps(parentStamps, parent)
  const stamps = parentStamps.entries
  const seen = new Uint8Array(parent.count)
  const candidates = new Map<string, Buffer>()
  let rows = 0
  stampsWriter.beginTable(table.name, scope)
  let next = 0
  const runs = new UnchangedRuns(index, stampsWriter, parent, stamps, STAMP_ENTRY)
  // Whether parent entry `at` has a known stamp equal to the 16 bytes of `bytes` at `from`.
  const sameStamp = (at: number, bytes: Buffer, from: number): boolean => {
    const s = stampAt[at]!
    if (s < 0) return false
    for (let k = 0; k < DIGEST_BYTES; k++) if (stamps[s + k] !== bytes[from + k]) return false
    return true
  }
  for await (const block of blocks) {
    const { bytes, digestAt } = block
    for (let row = 0; row < block.count; row++) {
      const from = digestAt[row]!
      let at = next < parent.count && sameStamp(next, bytes, from) ? next : -1
      if (at < 0) {
        const key = block.keyText(row)
        let text: string | undefined
        at = next < parent.count && parent.keyTextEquals(next, key, 0, key.length) ? next : -1
        if (at < 0) {
          text = key.toString('utf8')
          at = parent.find(shortDigest(text))
        }
        if (at >= 0) {
          seen[at] = 1
          next = at + 1
        }
        if (at < 0 || !sameStamp(at, bytes, from)) {
          candidates.set(text ?? key.toString('utf8'), Buffer.from(bytes.subarray(from, from + DIGEST_BYTES)))
          continue
        }
      }
      seen[at] = 1
      next = at + 1
      if (stampAt[at] === at * STAMP_ENTRY + 1 + DIGEST_BYTES) {
        if (!runs.extend(at)) await runs.add(at)
      }
      else {
        await runs.flush()
        await index.addEntries(parent.entryBytes(at, at + 1))
        await stampsWriter.addDigest(parent.keyDigest(at), stamps.subarray(stampAt[at]!, stampAt[at]! + DIGEST_BYTES))
      }
    }
    rows += block.count
  }
  await runs.flush()
  const changed = await writeCandidates(source, writer, index, table, parent, candidates, 'row digest', (keyDigest, stamp) => stampsWriter.addDigest(keyDigest, stamp))
  await stampsWriter.endTable()
  return { deleted: deletedKeys(parent, seen), rows, changed, stamped: true }
}

/**
 * Whether the 32 hex digits at `hex[from]` spell the 16 bytes at `bytes[at]` (lower case, as the
 * server writes them). An unknown digest (all zeros, mysql-row-digest.ts) never matches.
 */
function hexEquals(hex: Buffer, from: number, bytes: Buffer, at: number): boolean {
  let zero = true
  for (let k = 0; k < DIGEST_BYTES; k++) {
    const byte = bytes[at + k]!
    if (byte !== 0) zero = false
    if (hex[from + 2 * k] !== HEX[byte >> 4] || hex[from + 2 * k + 1] !== HEX[byte & 15]) return false
  }
  return !zero
}
const HEX = Buffer.from('0123456789abcdef')

/** The lines of `Source.readRowStamps` for a 'digest' scope (`<key text> 0x02 <32 hex digits>\n`) as key texts and 16-byte digests. */
export async function* keyDigestStamps(chunks: AsyncIterable<Buffer>): AsyncGenerator<{ text: string; stamp: Buffer }> {
  for await (const chunk of chunks) {
    for (let begin = 0; begin < chunk.length; ) {
      const end = chunk.indexOf(0x0a, begin)
      const tab = chunk.lastIndexOf(0x02, end)
      if (end < 0 || tab < begin || end - tab - 1 !== 2 * DIGEST_BYTES) throw new InternalError('a key read with its row digest has none, or not one of 32 hex digits')
      const stamp = Buffer.from(chunk.toString('latin1', tab + 1, end), 'hex')
      if (stamp.length !== DIGEST_BYTES) throw new InternalError('a row digest is not hex')
      yield { text: chunk.toString('utf8', begin, tab), stamp }
      begin = end + 1
    }
  }
}
