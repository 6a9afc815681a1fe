/**
 * Block digests: `<backup file>.blocks`, a sidecar beside a SQLite backup's digest index
 * (docs/storage.md §Digest index and chains, docs/performance.md §Round seven). Per keyed table,
 * the index's entries cut into runs ("blocks") of consecutive entries, in the index's order (the
 * key order the rows were read in), and per block its row count and the first 16 bytes of SHA-256
 * of its rows' record lines concatenated, each with its '\n' (a line holds no raw '\n', so the
 * concatenation is unambiguous). An increment asks SQLite for each block's lines as one value,
 * over the key range from the block's first key to the next block's first key, hashes it, and
 * copies the parent's index entries of a block whose digest is the same without reading its rows
 * one by one (engine/incremental-blocks.ts).
 *
 * Byte layout (the whole file gzip-compressed, level 1):
 *
 *   "MBBL1\n"
 *   per table:  'T' uint32be(length) JSON {"table","columns":"<signature>"}
 *               uint32be(blocks) (uint16be(rows) digest[16])*
 *               'E'
 *
 * A file that cannot be read whole, or a table whose blocks do not add up to its index entries,
 * is no blocks: the increment then compares every row (never an error). Not written beside an
 * encrypted backup (its digests of rows would let anyone test guesses of row contents).
 */
import { promises as fs } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { gzip } from 'node:zlib'
import { promisify } from 'node:util'
import { InternalError } from '../errors.js'
import { DIGEST_BYTES, gunzipWhole } from './digest-index.js'

export const ROW_BLOCKS_SUFFIX = '.blocks'
const MAGIC = Buffer.from('MBBL1\n')
/** One block: uint16be(rows) digest[16]. */
export const BLOCK_ENTRY_BYTES = 2 + DIGEST_BYTES
/** Rows per block where the writer chooses (docs/performance.md §Round seven: 8 against 16). */
export const BLOCK_ROWS = 8

export function rowBlocksPathFor(backupFile: string): string {
  return `${backupFile}${ROW_BLOCKS_SUFFIX}`
}

/** The block digests of one table, as loaded: block `b` covers index entries `[starts[b], starts[b + 1])`. */
export interface TableBlocks {
  readonly columns: string
  readonly count: number
  readonly starts: Uint32Array
  /** `count` entries of BLOCK_ENTRY_BYTES, as the file holds them. */
  readonly entries: Buffer
}

/** The digest of block `b` of `blocks` equals `digest` (16 bytes at `at`)? */
export function blockDigestEquals(blocks: TableBlocks, b: number, digest: Buffer, at = 0): boolean {
  const from = b * BLOCK_ENTRY_BYTES + 2
  return blocks.entries.compare(digest, at, at + DIGEST_BYTES, from, from + DIGEST_BYTES) === 0
}

/** Collects the block digests of a backup's tables (small: 18 bytes per block) and writes them at commit. */
export class RowBlocksWriter {
  readonly #parts: Buffer[] = [MAGIC]

  /** One table's blocks, encoded (uint16be(rows) digest[16] each: DigestIndexWriter.tableBlocks, or an increment's). */
  addTable(table: string, columns: string, blocks: Uint8Array): void {
    if (blocks.length % BLOCK_ENTRY_BYTES !== 0) throw new InternalError(`block digests: ${blocks.length} bytes are not whole blocks`)
    const header = Buffer.from(JSON.stringify({ table, columns }))
    const head = Buffer.allocUnsafe(5)
    head[0] = 0x54 // T
    head.writeUInt32BE(header.length, 1)
    const count = Buffer.allocUnsafe(4)
    count.writeUInt32BE(blocks.length / BLOCK_ENTRY_BYTES)
    this.#parts.push(head, header, count, Buffer.from(blocks), Buffer.from('E'))
  }

  async commit(backupPath: string): Promise<void> {
    const temporary = path.join(path.dirname(backupPath), `.tmp-${randomBytes(8).toString('hex')}.blocks.partial`)
    try {
      await fs.writeFile(temporary, await promisify(gzip)(Buffer.concat(this.#parts), { level: 1 }), { flag: 'wx', mode: 0o600 })
      await fs.rename(temporary, rowBlocksPathFor(backupPath))
    } catch (error) {
      await fs.rm(temporary, { force: true })
      throw error
    }
  }
}

/** Loads `<backup>.blocks`; undefined when there is none or it cannot be read whole (module header). */
export async function loadRowBlocks(backupFile: string): Promise<Map<string, TableBlocks> | undefined> {
  let data: Buffer
  try {
    data = await gunzipWhole(await fs.readFile(rowBlocksPathFor(backupFile)))
  } catch {
    return undefined
  }
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
  const tables = new Map<string, TableBlocks>()
  let at = MAGIC.length
  while (at < data.length) {
    if (data[at] !== 0x54 || at + 5 > data.length) return undefined
    const length = data.readUInt32BE(at + 1)
    if (at + 9 + length > data.length) return undefined
    let header: { table?: unknown; columns?: unknown }
    try {
      header = JSON.parse(data.toString('utf8', at + 5, at + 5 + length)) as typeof header
    } catch {
      return undefined
    }
    if (typeof header !== 'object' || header === null || typeof header.table !== 'string' || typeof header.columns !== 'string') return undefined
    at += 5 + length
    const count = data.readUInt32BE(at)
    at += 4
    const end = at + count * BLOCK_ENTRY_BYTES
    if (end >= data.length || data[end] !== 0x45) return undefined
    const entries = data.subarray(at, end)
    const starts = new Uint32Array(count + 1)
    for (let b = 0; b < count; b++) {
      const rows = entries.readUInt16BE(b * BLOCK_ENTRY_BYTES)
      if (rows === 0) return undefined
      starts[b + 1] = starts[b]! + rows
    }
    tables.set(header.table, { columns: header.columns, count, starts, entries })
    at = end + 1
  }
  return tables
}
