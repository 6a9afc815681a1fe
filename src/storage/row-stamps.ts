/**
 * Row stamps: `<backup file>.stamps`, a second sidecar beside a PostgreSQL backup's digest index
 * (docs/storage.md §Digest index and chains). Per keyed ordinary table, where its rows lived
 * (`scope`: database oid, table oid, file node) and per row the key digest (as in the digest
 * index) and the row version's xmin. An increment reads only keys and xmins: a row whose table
 * has the same scope and whose xmin is the one its parent recorded is the same row version, so
 * unchanged; only the others are turned into record lines and compared by digest.
 *
 * MariaDB has no row version, so its stamp is a digest of the row's native form computed by the
 * server (`"kind":"digest"` tables, 'D' entries: the first 16 bytes of SHA-256 over each column's
 * length-prefixed text, mysql-row-digest.ts): equal digests mean the row reads the same, so an
 * increment reads only keys and these digests (docs/performance.md §Round six).
 *
 * Byte layout (the whole file gzip-compressed, level 0 since round eight: SIDECAR_GZIP_LEVEL):
 *
 *   "MBST1\n"
 *   per table:  'T' uint32be(length) JSON {"table","scope","xid"[,"kind":"digest"]}
 *               ('S' keyDigest[16] uint32be(xmin))*          (an xmin table)
 *               ('D' keyDigest[16] rowStamp[16])*             (a "kind":"digest" table)
 *               'E'
 * A reader that predates 'D' entries finds no 'E' after the header and ignores the whole file.
 */
import { createWriteStream, promises as fs } from 'node:fs'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { createGzip } from 'node:zlib'
import { InternalError } from '../errors.js'
import { DIGEST_BYTES, SIDECAR_GZIP_LEVEL, type TableDigests } from './digest-index.js'
import { gunzipFile, SectionDamage, SectionReader, type EntryShape } from './sidecar-sections.js'

export const ROW_STAMPS_SUFFIX = '.stamps'
const MAGIC = Buffer.from('MBST1\n')
/** The bytes of one xmin entry: 'S' keyDigest[16] uint32be(xmin). */
export const STAMPS_ENTRY_BYTES = 1 + DIGEST_BYTES + 4
const ENTRY = STAMPS_ENTRY_BYTES
/** A native-digest entry: 'D' keyDigest[16] rowStamp[16]. */
export const DIGEST_STAMPS_ENTRY_BYTES = 1 + 2 * DIGEST_BYTES
const DIGEST_ENTRY = DIGEST_STAMPS_ENTRY_BYTES

/** What a table's stamps are: PostgreSQL's xmin (a number), or a digest the server computed of each row (16 bytes, sent as 32 hex digits). */
export type StampKind = 'xmin' | 'digest'

/** Where a table's rows live, as Source.rowStampScope says: `kind` 'digest' for 16-byte stamps. */
export interface StampScope {
  readonly scope: string
  readonly xid: string
  readonly kind?: StampKind
}

export function rowStampsPathFor(backupFile: string): string {
  return `${backupFile}${ROW_STAMPS_SUFFIX}`
}

/** Streams a stamps file to a temporary file beside its backup; `commit` moves it into place. */
export class RowStampsWriter {
  readonly #temporary: string
  readonly #gzip = createGzip({ level: SIDECAR_GZIP_LEVEL }) // 16 KiB output pieces, as digest-index-worker.ts says why
  readonly #out: ReturnType<typeof createWriteStream>
  readonly #done: Promise<void>
  #buffer: Buffer = Buffer.allocUnsafe(1 << 20)
  readonly #spare: Buffer[] = []
  #used = 0
  #failed: unknown

  constructor(backupPath: string) {
    this.#temporary = path.join(path.dirname(backupPath), `.tmp-${randomBytes(8).toString('hex')}.stamps.partial`)
    this.#out = createWriteStream(this.#temporary, { flags: 'wx', mode: 0o600 })
    this.#gzip.pipe(this.#out)
    this.#done = new Promise<void>((resolve, reject) => {
      this.#out.on('close', resolve)
      this.#out.on('error', reject)
      this.#gzip.on('error', reject)
    })
    this.#done.catch((error: unknown) => {
      this.#failed = error
    })
    this.#put(MAGIC)
  }

  #put(bytes: Buffer): void {
    if (this.#used + bytes.length > this.#buffer.length) {
      this.#gzip.write(this.#buffer.subarray(0, this.#used))
      this.#buffer = Buffer.allocUnsafe(Math.max(1 << 20, bytes.length))
      this.#used = 0
    }
    bytes.copy(this.#buffer, this.#used)
    this.#used += bytes.length
  }

  async #flush(): Promise<void> {
    if (this.#failed !== undefined) throw this.#failed
    if (this.#used === 0) return
    // The buffer is filled again once gzip has taken its bytes (the write's callback): a new
    // 1 MiB buffer per flush was external memory enough to bring on a full GC every few dozen.
    const full = this.#buffer
    const ok = this.#gzip.write(full.subarray(0, this.#used), () => {
      if (full.length === 1 << 20 && this.#spare.length < 2) this.#spare.push(full)
    })
    this.#buffer = this.#spare.pop() ?? Buffer.allocUnsafe(1 << 20)
    this.#used = 0
    if (!ok) await once(this.#gzip, 'drain')
  }

  beginTable(table: string, scope: StampScope): void {
    const header = Buffer.from(JSON.stringify({ table, scope: scope.scope, xid: scope.xid, ...(scope.kind === 'digest' ? { kind: 'digest' } : {}) }))
    const head = Buffer.allocUnsafe(5)
    head[0] = 0x54 // T
    head.writeUInt32BE(header.length, 1)
    this.#put(head)
    this.#put(header)
  }

  /**
   * Entries encoded elsewhere, each `S` keyDigest[16] uint32be(xmin), or `D` keyDigest[16]
   * rowStamp[16] for a digest table (the digest index's thread: DigestIndexWriter.beginTable).
   */
  addEntries(entries: Uint8Array): void {
    const width = entries[0] === 0x44 ? DIGEST_ENTRY : ENTRY
    if (entries.length % width !== 0) throw new InternalError(`row stamps: ${entries.length} bytes are not whole entries`)
    this.#put(Buffer.from(entries.buffer, entries.byteOffset, entries.length))
  }

  /** Entries copied as they are (a parent's, TableStamps.entries), with back-pressure. */
  async addRaw(entries: Buffer): Promise<void> {
    for (let from = 0; from < entries.length; ) {
      if (this.#used === this.#buffer.length) await this.#flush()
      const n = Math.min(entries.length - from, this.#buffer.length - this.#used)
      entries.copy(this.#buffer, this.#used, from, from + n)
      this.#used += n
      from += n
    }
  }

  /** One row: its key digest (16 bytes) and xmin. */
  async add(keyDigest: Buffer, stamp: number): Promise<void> {
    if (this.#used + ENTRY > this.#buffer.length) await this.#flush()
    const b = this.#buffer
    b[this.#used] = 0x53 // S
    keyDigest.copy(b, this.#used + 1, 0, DIGEST_BYTES)
    b.writeUInt32BE(stamp, this.#used + 1 + DIGEST_BYTES)
    this.#used += ENTRY
  }

  /** One row of a digest table: its key digest and the server's digest of it (16 bytes each). */
  async addDigest(keyDigest: Buffer, stamp: Buffer): Promise<void> {
    if (this.#used + DIGEST_ENTRY > this.#buffer.length) await this.#flush()
    const b = this.#buffer
    b[this.#used] = 0x44 // D
    keyDigest.copy(b, this.#used + 1, 0, DIGEST_BYTES)
    stamp.copy(b, this.#used + 1 + DIGEST_BYTES, 0, DIGEST_BYTES)
    this.#used += DIGEST_ENTRY
  }

  async endTable(): Promise<void> {
    this.#put(Buffer.from('E'))
    await this.#flush()
  }

  async commit(backupPath: string): Promise<void> {
    await this.#flush()
    this.#gzip.end()
    await this.#done
    await fs.rename(this.#temporary, rowStampsPathFor(backupPath))
  }

  async abort(): Promise<void> {
    this.#gzip.destroy()
    this.#out.destroy()
    await fs.rm(this.#temporary, { force: true })
  }
}

/**
 * Takes the stamps off lines of Source.readRecordLinesWithStamps (`<line>\x02<stamp>\n`), in
 * place: the record lines (`<line>\n`) in the last bytes of `chunk`, which is returned cut to them.
 * The bytes before them (at least two a line: each stamp and its separator) are free, which lets
 * the writer lay its output out in `chunk` itself (BackupWriter.writeRecordLines' `scratch`).
 */
export function stripStamps(chunk: Buffer): Buffer {
  let to = chunk.length
  for (let end = chunk.length - 1; end >= 0; ) {
    if (chunk[end] !== 0x0a) throw new InternalError('a record line read with its row stamp has none')
    const start = end === 0 ? 0 : chunk.lastIndexOf(0x0a, end - 1) + 1
    let tab = end - 1
    // The stamp is a few digits: look for its separator from the end of the line.
    while (tab > start && chunk[tab] !== 0x02) tab--
    if (chunk[tab] !== 0x02) throw new InternalError('a record line read with its row stamp has none')
    chunk[--to] = 0x0a
    to -= tab - start
    if (to !== start) chunk.copyWithin(to, start, tab)
    end = start - 1
  }
  return chunk.subarray(to)
}

/** A table's header in a stamps file. */
export interface StampsHead {
  readonly table: string
  readonly scope: string
  readonly xid: string
  /** Absent for xmin stamps. */
  readonly kind?: StampKind
}

/** One table of a loaded stamps file. */
export interface TableStamps {
  readonly scope: string
  readonly xid: string
  /** Absent for xmin stamps. */
  readonly kind?: StampKind
  /**
   * `count` entries as the file holds them: 'S' keyDigest[16] uint32be(xmin) (STAMPS_ENTRY_BYTES
   * each), or for kind 'digest' 'D' keyDigest[16] rowStamp[16].
   */
  readonly entries: Buffer
  readonly count: number
}

/** A stamps entry: 'S' (xmin) or 'D' (digest) and its fixed width. */
const STAMPS_ENTRY: EntryShape = {
  fixed: 1,
  length: (bytes, at) => (bytes[at] === 0x53 ? ENTRY : bytes[at] === 0x44 ? DIGEST_ENTRY : undefined),
}

/**
 * A parent's stamps read table by table, as DigestIndexReader reads its index (only the table
 * asked for is in memory; a table asked for after the reader has passed it opens the file
 * again). Never an error: stamps only make an increment faster, so a file that is not whole gzip
 * has none, and a table whose section cannot be read, and every table after it, has none (the
 * increment compares their rows by digest).
 */
export class RowStampsReader {
  readonly #file: string
  readonly #names: ReadonlySet<string> | undefined
  readonly #pieceBytes: number | undefined
  #reader: SectionReader | undefined
  #passed = new Set<string>()
  #broken = false
  /** The table whose header was read and whose entries were not yet taken. */
  #pending: StampsHead | undefined

  private constructor(file: string, reader: SectionReader, names: ReadonlySet<string> | undefined, pieceBytes: number | undefined) {
    this.#file = file
    this.#pieceBytes = pieceBytes
    this.#reader = reader
    this.#names = names
  }

  /** Opens `<backup>.stamps`; undefined when there is none or it does not begin as one. `tables` as DigestIndexReader.open's. */
  static async open(backupFile: string, options: { readonly tables?: readonly string[]; readonly pieceBytes?: number } = {}): Promise<RowStampsReader | undefined> {
    const file = rowStampsPathFor(backupFile)
    const reader = await openStamps(file, options.pieceBytes)
    return reader === undefined ? undefined : new RowStampsReader(file, reader, options.tables === undefined ? undefined : new Set(options.tables), options.pieceBytes)
  }

  /** The stamps of table `name`, or undefined (no such table, or the file cannot be read so far). */
  async table(name: string): Promise<TableStamps | undefined> {
    const head = await this.head(name)
    if (head === undefined) return undefined
    return this.#body(head)
  }

  /**
   * The header of table `name` (undefined: no such table, or the file cannot be read so far), the
   * reader then standing at its entries, which `entries` takes in batches; left untaken, they are
   * read past by the next call.
   */
  async head(name: string): Promise<StampsHead | undefined> {
    if (this.#broken || (this.#names !== undefined && !this.#names.has(name))) return undefined
    if (!(await this.#skipPending())) return undefined
    if (this.#passed.has(name)) {
      this.#reader?.close()
      this.#reader = await openStamps(this.#file, this.#pieceBytes)
      this.#passed = new Set()
      if (this.#reader === undefined) {
        this.#broken = true
        return undefined
      }
    }
    for (;;) {
      const next = await this.#nextHead()
      if (next === undefined || next.table === name) return next
      if (!(await this.#skipPending())) return undefined
    }
  }

  /**
   * The entries of the table whose head was read last, in batches of whole entries (of the head's
   * kind) of about `batchBytes`. A batch that cannot be read ends them (and the file for good).
   */
  async *entries(batchBytes: number): AsyncGenerator<Buffer> {
    const head = this.#pending
    if (head === undefined || this.#broken) return
    this.#pending = undefined
    const [tag, width] = head.kind === 'digest' ? [0x44, DIGEST_ENTRY] : [0x53, ENTRY]
    const batches = this.#reader!.entries(STAMPS_ENTRY, batchBytes)
    for (;;) {
      let body: Buffer
      try {
        const next = await batches.next()
        if (next.done === true) return
        body = next.value.body
        if (body.length % width !== 0) throw new SectionDamage('entries of two kinds')
        for (let at = 0; at < body.length; at += width) if (body[at] !== tag) throw new SectionDamage('entries of two kinds')
      } catch {
        this.close()
        this.#broken = true
        return
      }
      yield body
    }
  }

  async #skipPending(): Promise<boolean> {
    if (this.#pending !== undefined) for await (const batch of this.entries(1 << 16)) void batch
    return !this.#broken
  }

  async #nextHead(): Promise<StampsHead | undefined> {
    if (this.#broken) return undefined
    try {
      const bytes = await this.#reader!.header()
      if (bytes === undefined) return undefined
      const header = JSON.parse(bytes.toString('utf8')) as { table: string; scope: string; xid: string; kind?: string }
      if (typeof header !== 'object' || header === null || typeof header.table !== 'string' || typeof header.scope !== 'string' || typeof header.xid !== 'string') throw new SectionDamage('a table header')
      if (header.kind !== undefined && header.kind !== 'digest') throw new SectionDamage('a table header')
      this.#passed.add(header.table)
      this.#pending = { table: header.table, scope: header.scope, xid: header.xid, ...(header.kind === 'digest' ? { kind: 'digest' as const } : {}) }
      return this.#pending
    } catch {
      this.close()
      this.#broken = true
      return undefined
    }
  }

  /** The stamps of the table whose head was read last (undefined: none read, or they cannot be read). */
  async load(): Promise<TableStamps | undefined> {
    return this.#pending === undefined ? undefined : this.#body(this.#pending)
  }

  /** The whole entries of `head`, the table whose head was read last. */
  async #body(head: StampsHead): Promise<TableStamps | undefined> {
    const width = head.kind === 'digest' ? DIGEST_ENTRY : ENTRY
    let body: Buffer | undefined
    for await (const batch of this.entries(Number.POSITIVE_INFINITY)) body = batch
    if (body === undefined) return undefined
    // Kept as they were decompressed: an increment copies runs of them whole (addRaw).
    return { scope: head.scope, xid: head.xid, ...(head.kind === 'digest' ? { kind: 'digest' as const } : {}), entries: body, count: body.length / width }
  }

  /** The next table of the file, in the file's order; undefined at its end or where it cannot be read (then for good). */
  async nextTable(): Promise<{ name: string; stamps: TableStamps } | undefined> {
    if (!(await this.#skipPending())) return undefined
    const head = await this.#nextHead()
    if (head === undefined) return undefined
    const stamps = await this.#body(head)
    return stamps === undefined ? undefined : { name: head.table, stamps }
  }

  /** Reads the rest of the file: false when it (its gzip trailer included) is not whole. */
  async finish(): Promise<boolean> {
    if (this.#broken) return false
    try {
      await this.#reader!.drain()
      return true
    } catch {
      this.#broken = true
      return false
    }
  }

  close(): void {
    this.#reader?.close()
  }
}

/**
 * Opens a stamps file once it has been read through whole (gzip's CRC and length checked): a
 * damaged byte inside an entry would otherwise be used before the trailer tells it (a stamp that
 * happens to equal the row's new one would hide a change). The pass keeps nothing; at level 0 it
 * costs a read and a CRC of the file.
 */
async function openStamps(file: string, pieceBytes: number | undefined): Promise<SectionReader | undefined> {
  try {
    for await (const piece of gunzipFile(file, pieceBytes)) void piece
    return await SectionReader.open(gunzipFile(file, pieceBytes), MAGIC)
  } catch {
    return undefined
  }
}

/**
 * Loads `<backup>.stamps` whole (an increment reads it table by table instead, RowStampsReader).
 * Undefined when there is none or it cannot be read whole: stamps only make an increment faster,
 * so a damaged file means comparing every row by digest, never an error.
 */
export async function loadRowStamps(backupFile: string): Promise<Map<string, TableStamps> | undefined> {
  const reader = await RowStampsReader.open(backupFile)
  if (reader === undefined) return undefined
  const tables = new Map<string, TableStamps>()
  try {
    for (;;) {
      const next = await reader.nextTable()
      if (next === undefined) break
      tables.set(next.name, next.stamps)
    }
    return (await reader.finish()) ? tables : undefined
  } finally {
    reader.close()
  }
}

/**
 * The parent's xmin of each entry of its digest index (`stamps[i]` for entry `i`). `known[i]` is
 * 0 when the stamps file lacks the entry, 2 when the stamps file's entry `i` is the index's entry
 * `i` (both written in the same order, as backups write them: a run of such entries can be copied
 * whole), 1 otherwise. Entries whose key digest the index lacks are ignored.
 */
export function alignStamps(stamps: TableStamps, index: TableDigests): { stamps: Uint32Array; known: Uint8Array } {
  if (stamps.kind === 'digest') throw new InternalError('alignStamps: the table\'s stamps are digests, not xmins')
  const out = new Uint32Array(index.count)
  const known = new Uint8Array(index.count)
  const e = stamps.entries
  for (let n = 0; n < stamps.count; n++) {
    const at = n * ENTRY
    let i = n
    let how = 2
    if (n >= index.count || !index.keyDigestEquals(n, e, at + 1)) {
      i = index.find(e.subarray(at + 1, at + 1 + DIGEST_BYTES))
      how = 1
      if (i < 0) continue
    }
    out[i] = ((e[at + 17]! << 24) | (e[at + 18]! << 16) | (e[at + 19]! << 8) | e[at + 20]!) >>> 0
    known[i] = how
  }
  return { stamps: out, known }
}

/**
 * The parent's row stamp of each entry of its digest index, for a 'digest' table: 16 bytes at
 * `16 * i` of `stamps` for entry `i`, `known[i]` = 1 when the stamps file has it.
 */
export function alignDigestStamps(stamps: TableStamps, index: TableDigests): { stamps: Buffer; known: Uint8Array } {
  if (stamps.kind !== 'digest') throw new InternalError('alignDigestStamps: the table\'s stamps are not digests')
  const out = Buffer.alloc(index.count * DIGEST_BYTES)
  const known = new Uint8Array(index.count)
  const e = stamps.entries
  // A full backup wrote both files in the same order: entry n of each is then the same key, and
  // found without a lookup.
  for (let n = 0; n < stamps.count; n++) {
    const key = n * DIGEST_ENTRY + 1
    const i = n < index.count && index.keyDigestEquals(n, e, key) ? n : index.find(e.subarray(key, key + DIGEST_BYTES))
    if (i < 0) continue
    e.copy(out, i * DIGEST_BYTES, key + DIGEST_BYTES, key + 2 * DIGEST_BYTES)
    known[i] = 1
  }
  return { stamps: out, known }
}

/**
 * Where the parent's row stamp of each entry of its digest index is, for a 'digest' table: the
 * offset in `stamps.entries` of entry `i`'s 16-byte stamp, or -1 when the stamps file lacks it or
 * it is the unknown digest (all zeros: never a match). When the stamps file's entry `i` is the
 * index's entry `i` (both written in the same order, as backups write them), the offset is
 * `i * DIGEST_STAMPS_ENTRY_BYTES + 1 + DIGEST_BYTES`: a run of such entries can be copied whole.
 */
export function locateDigestStamps(stamps: TableStamps, index: TableDigests): Int32Array {
  if (stamps.kind !== 'digest') throw new InternalError('locateDigestStamps: the table\'s stamps are not digests')
  const out = new Int32Array(index.count).fill(-1)
  const e = stamps.entries
  for (let n = 0; n < stamps.count; n++) {
    const key = n * DIGEST_ENTRY + 1
    const i = n < index.count && index.keyDigestEquals(n, e, key) ? n : index.find(e.subarray(key, key + DIGEST_BYTES))
    if (i < 0) continue
    let zero = true
    for (let k = key + DIGEST_BYTES; k < key + 2 * DIGEST_BYTES; k++) if (e[k] !== 0) zero = false
    if (!zero) out[i] = key + DIGEST_BYTES
  }
  return out
}

/** Whether stamps recorded at transaction id `then` can still be trusted at `now`: within 2^31 transactions (xmin is 32 bits and wraps). */
export function stampsFresh(then: string, now: string): boolean {
  const gap = BigInt(now) - BigInt(then)
  return gap >= 0n && gap < 2n ** 31n
}
