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
import type { Source, TableSchema } from '../adapters/adapter.js'
import { InternalError } from '../errors.js'
import type { BackupWriter } from '../format/writer.js'
import { DIGEST_BYTES, keyCutter, keyText, shortDigest, type DigestIndexWriter, type TableDigests } from '../storage/digest-index.js'
import { alignDigestStamps, type RowStampsWriter, type TableStamps } from '../storage/row-stamps.js'
import { deletedKeys } from './incremental.js'

/** Candidate keys fetched per query. */
const KEYS_PER_FETCH = 5000

/** A digest the server could not compute (mysql-row-digest.ts UNKNOWN_ROW_DIGEST): never a match. */
const UNKNOWN = Buffer.alloc(DIGEST_BYTES)

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
  const lines = source.readRowStamps(table)
  if (lines === undefined) return undefined
  const known = alignDigestStamps(parentStamps, parent)
  const seen = new Uint8Array(parent.count)
  const candidates = new Map<string, Buffer>()
  let rows = 0
  stampsWriter.beginTable(table.name, scope)
  for await (const { text, stamp } of keyDigestStamps(lines)) {
    const keyDigest = shortDigest(text)
    const at = parent.find(keyDigest)
    if (at >= 0) seen[at] = 1
    if (at >= 0 && known.known[at] === 1 && stamp.compare(known.stamps, at * DIGEST_BYTES, (at + 1) * DIGEST_BYTES) === 0 && !stamp.equals(UNKNOWN)) {
      await index.add(keyDigest, parent.rowDigest(at), text)
      await stampsWriter.addDigest(keyDigest, stamp)
    } else {
      candidates.set(text, stamp)
    }
    rows++
  }
  let changed = 0
  const cutter = keyCutter(table)
  const keys = [...candidates.keys()]
  for (let from = 0; from < keys.length; from += KEYS_PER_FETCH) {
    const batch = keys.slice(from, from + KEYS_PER_FETCH).map((k) => JSON.parse(k) as unknown[])
    for await (const chunk of source.readRecordLinesByKeys(table, batch)!) {
      const kept: Buffer[] = []
      for (let start = 0; start < chunk.length; ) {
        const end = chunk.indexOf(0x0a, start)
        const line = chunk.subarray(start, end + 1)
        const body = line.subarray(0, line.length - 1)
        const text = cutter(body) ?? keyText(JSON.parse(body.toString('utf8')) as Record<string, unknown>, table.primaryKey)
        const stamp = candidates.get(text)
        if (stamp === undefined) {
          throw new InternalError(`Incremental backup of "${table.name}": the key ${text} read with its record line was not among the keys read with their row digest (the two spell keys differently).`)
        }
        candidates.delete(text)
        const keyDigest = shortDigest(text)
        const rowDigest = shortDigest(body)
        await index.add(keyDigest, rowDigest, text)
        await stampsWriter.addDigest(keyDigest, stamp)
        const at = parent.find(keyDigest)
        if (at < 0 || !parent.sameRow(at, rowDigest)) kept.push(line)
        start = end + 1
      }
      if (kept.length > 0) changed += await writer.writeRecordLines(Buffer.concat(kept))
    }
  }
  if (candidates.size > 0) {
    throw new InternalError(`Incremental backup of "${table.name}": ${candidates.size} rows read with their row digest were not found again by key in the same snapshot.`)
  }
  await stampsWriter.endTable()
  return { deleted: deletedKeys(parent, seen), rows, changed, stamped: true }
}

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
