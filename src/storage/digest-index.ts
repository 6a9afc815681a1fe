/**
 * The digest index: `<backup file>.digests`, a sidecar written beside every backup made into a
 * directory (issue #18 part 2, docs/storage.md §Digest index). It lets the next backup of the same
 * database be incremental: for each keyed table, one entry per row holding
 *
 *   - the key digest: the first 16 bytes of SHA-256 of the key's canonical text,
 *     `JSON.stringify([wire value of each key column])`;
 *   - the row digest: the first 16 bytes of SHA-256 of the row's record line (its canonical text,
 *     docs/format.md §Checksums), exactly the bytes the backup file holds;
 *   - the key's canonical text itself, so that an increment can name the keys of deleted rows.
 *
 * Byte layout (the whole file gzip-compressed, level 0 since round eight: SIDECAR_GZIP_LEVEL):
 *
 *   "MBDX1\n"
 *   per table:  'T' uint32be(length) JSON {"table","key":[…],"columns":"<signature>"}
 *               ('R' keyDigest[16] rowDigest[16] uint16be(length) keyText)*
 *               'E'
 *
 * Tables without a key get a header and no entries (an increment always carries them whole).
 *
 * The index of an encrypted backup is encrypted too, in the same container as a backup
 * (crypto/container.ts, gzip payload flag set, a salt of its own, the backup's passphrase): its
 * unkeyed digests would otherwise let anyone test guesses of row contents, and its key texts are
 * row data. Loading it needs the passphrase; a wrong one is refused before anything is read.
 * An increment reads it table by table (DigestIndexReader), each table in a compact form: 32 bytes
 * per row plus the key text, and an open-addressed table of 4 bytes per slot (load ≤ 0.5) to find
 * a key digest.
 */
import { createHash, hash, randomBytes } from 'node:crypto'
import { closeSync, createWriteStream, fsyncSync, openSync, promises as fs } from 'node:fs'
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import type { Transform } from 'node:stream'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { gunzip } from 'node:zlib'
import { promisify } from 'node:util'
import type { TableSchema } from '../adapters/adapter.js'
import { FormatError, UsageError } from '../errors.js'
import { HEADER_LENGTH, hasContainerMagic } from '../crypto/container.js'
import { createEncryptStream } from '../crypto/encrypt-stream.js'
import { openBackupStream } from './open.js'
import { PASSPHRASE_ENV } from './passphrase.js'
import { gunzipFile, SECTION_PIECE_BYTES, SectionDamage, SectionReader, type EntryShape } from './sidecar-sections.js'
import { DIGEST_INDEX_WORKER_SOURCE } from './digest-index-worker.js'

export const DIGEST_INDEX_SUFFIX = '.digests'
const MAGIC = Buffer.from('MBDX1\n')
export const DIGEST_BYTES = 16

/**
 * The gzip level of the sidecars (digest index, row stamps): 0, stored. Their entries are mostly
 * digests, which do not compress (level 1 made the stamps 0.5 % and the index 25 % smaller), and
 * an increment writes both whole and its child reads both through, so deflate's time was paid
 * twice a link for little (docs/performance.md §Round eight). Still gzip: every reader takes any level.
 */
export const SIDECAR_GZIP_LEVEL = 0

/**
 * Gunzips a whole sidecar into one buffer: zlib is given an output chunk of the size the gzip
 * trailer names (ISIZE), so that it does not hand back 16 KiB pieces to be concatenated. ISIZE is
 * only a hint (modulo 2^32, the last member's): a wrong one costs pieces, never the bytes.
 */
export async function gunzipWhole(packed: Buffer): Promise<Buffer> {
  const size = packed.length >= 18 ? packed.readUInt32LE(packed.length - 4) : 0
  const chunkSize = size >= packed.length / 2 && size < 1 << 30 ? size + 1024 : 64 * 1024
  return promisify(gunzip)(packed, { chunkSize })
}

/** `<backup file>.digests`. */
export function digestIndexPathFor(backupFile: string): string {
  return `${backupFile}${DIGEST_INDEX_SUFFIX}`
}

/** First 16 bytes of SHA-256. */
export function shortDigest(data: Buffer | string): Buffer {
  // The one-shot crypto.hash: a Hash object per call cost ~3x as much per row (round four, docs/performance.md).
  return hash('sha256', data, 'buffer').subarray(0, DIGEST_BYTES)
}

/** The canonical text of a row's key: JSON.stringify of its key columns' wire values, in key order. */
export function keyText(row: Readonly<Record<string, unknown>>, key: readonly string[]): string {
  return keyValuesText(key.map((column) => row[column]))
}

/** keyText of a row whose key columns hold `values`, in key order (undefined for a missing field). */
export function keyValuesText(values: readonly unknown[]): string {
  return JSON.stringify(values.map((value) => value ?? null))
}

/**
 * What decides whether two links describe a table the same way: its key and its columns (name,
 * kind, engine type, an enum's labels). When it changes between links, the increment carries the table whole.
 */
export function columnsSignature(table: TableSchema): string {
  // An enum's labels too: renaming one changes how every row with it reads, without writing a row
  // (no new xmin for the row stamps, storage/row-stamps.ts), so the table is then carried whole.
  const text = JSON.stringify({ key: table.primaryKey, columns: table.columns.map((c) => [c.name, c.kind, c.type, c.elementKind ?? null, ...(c.enumValues ? [c.enumValues] : [])]) })
  return createHash('sha256').update(text).digest('hex').slice(0, 32)
}

/** Record-line bytes handed to the index thread and not yet processed, at most (back-pressure). */
const MAX_IN_FLIGHT_BYTES = 2 << 20
/** The size of the line buffers sent to the index thread (a source's chunk is about 1 MiB). */
const LINE_BUFFER_BYTES = 1280 * 1024

/**
 * Streams a digest index to a temporary file beside its backup; `commit` moves it into place.
 * The per-line work (cut the key, two SHA-256, gzip, write) runs on a thread of its own
 * (digest-index-worker.ts): this thread only copies each chunk of lines into a message, so
 * that writing the index costs a backup (almost) nothing on the thread that makes the backup.
 * Entries added one by one (`add`, the incremental backup's path) are encoded here and sent in
 * batches. Everything reaches the file in call order.
 */
export class DigestIndexWriter {
  readonly #temporary: string
  readonly #fd: number | undefined
  readonly #worker: Worker | undefined
  #closed = false
  readonly #done: Promise<void>
  #chunks: Buffer[] = []
  #size = 0
  #inFlight = 0
  /**
   * Message buffers (lines, and entries an increment copies) the index thread has handed back,
   * used again for the next messages: new ones for every message would pile up (their memory is
   * freed only when that thread's small heap is collected, which is rare), tens of MB of peak RSS.
   */
  #spare: ArrayBuffer[] = []
  #wake: (() => void) | undefined
  #failed: unknown
  /** Where the row stamps of the table begun last go, when its lines carry them (beginTable). */
  #stamps: ((entries: Uint8Array) => void) | undefined
  /** An encrypted index: the container the index thread's gzip output is written through, and the writes queued to it. */
  readonly #sealed: Promise<{ encrypt: Transform; file: ReturnType<typeof createWriteStream> }> | undefined
  #sealing: Promise<void> = Promise.resolve()
  /** compareLines calls waiting for their ack, in order (compareWith). */
  #comparing: ((result: { count: number; changed: Buffer | undefined }) => void)[] = []
  #seen: ((seen: Uint8Array) => void) | undefined
  #blocks: ((blocks: Uint8Array) => void) | undefined

  /** `passphrase`: the backup's, for an encrypted backup (the index is then encrypted too). */
  constructor(backupPath: string, options: { readonly passphrase?: string } = {}) {
    this.#temporary = path.join(path.dirname(backupPath), `.tmp-${randomBytes(8).toString('hex')}.digests.partial`)
    // Opened here, so that this thread closes it whatever becomes of the index thread. The
    // constructor never throws: a failure is thrown by the next call (the backup then aborts).
    try {
      this.#fd = openSync(this.#temporary, 'wx', 0o600)
    } catch (error) {
      this.#failed = error
      this.#done = Promise.reject(error)
      this.#done.catch(() => undefined)
      return
    }
    const fd = this.#fd
    if (options.passphrase !== undefined) {
      this.#sealed = createEncryptStream(options.passphrase, { gzipPayload: true }).then((encrypt) => {
        const file = createWriteStream('', { fd, autoClose: false })
        encrypt.pipe(file)
        // Seen by commit (finished) or, after an abort, of no interest.
        file.on('error', (error) => void (this.#failed ??= error))
        return { encrypt, file }
      })
      this.#sealed.catch(() => undefined)
    }
    const worker = new Worker(DIGEST_INDEX_WORKER_SOURCE, {
      eval: true,
      workerData: { fd: this.#sealed === undefined ? this.#fd : undefined, level: SIDECAR_GZIP_LEVEL },
      // Its heap holds little: the lines are external memory, one message at a time.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 },
    })
    this.#worker = worker
    this.#done = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: { type: string; bytes?: number; data?: Uint8Array; stamps?: Uint8Array; message?: string; tooLong?: boolean; count?: number; changed?: Uint32Array; seen?: Uint8Array; blocks?: Uint8Array }) => {
        if (message.type === 'ack') {
          this.#inFlight -= message.bytes!
          if (message.stamps !== undefined) this.#stamps?.(message.stamps)
          if (message.changed !== undefined) {
            // Copied out before the buffer is used again for the next chunk.
            const data = Buffer.from(message.data!.buffer, message.data!.byteOffset, message.data!.byteLength)
            const pieces: Buffer[] = []
            for (let i = 0; i < message.changed.length; i += 2) pieces.push(data.subarray(message.changed[i]!, message.changed[i + 1]!))
            this.#comparing.shift()?.({ count: message.count!, changed: pieces.length === 0 ? undefined : Buffer.concat(pieces) })
          }
          if (message.data !== undefined && this.#spare.length < 4) this.#spare.push(message.data.buffer as ArrayBuffer)
          this.#wake?.()
        } else if (message.type === 'seen') {
          this.#seen?.(message.seen!)
          this.#seen = undefined
        } else if (message.type === 'blocks') {
          this.#blocks?.(message.blocks!)
          this.#blocks = undefined
        } else if (message.type === 'out') this.#seal(message.data!)
        else if (message.type === 'done') resolve()
        else if (message.type === 'error') reject(message.tooLong ? new FormatError(message.message!) : new Error(`digest index: ${message.message}`))
      })
      worker.on('error', reject)
      worker.on('exit', () => reject(new Error('digest index: its thread stopped')))
    })
    this.#done.catch((error: unknown) => {
      this.#failed ??= error
      this.#wake?.()
    })
    this.#push(MAGIC)
  }

  /** Queues gzip output of the index thread into the encrypted container (in order). */
  #seal(data: Uint8Array): void {
    this.#sealing = this.#sealing.then(async () => {
      const { encrypt } = await this.#sealed!
      if (!encrypt.write(data)) await once(encrypt, 'drain')
    })
    this.#sealing.catch((error: unknown) => {
      this.#failed ??= error
      this.#wake?.()
    })
  }

  /** `size` bytes to fill and send to the index thread: a spare buffer when one is big enough. */
  #message(size: number): Uint8Array<ArrayBuffer> {
    let buffer: ArrayBuffer | undefined
    while (buffer === undefined && this.#spare.length > 0) {
      const spare = this.#spare.pop()!
      if (spare.byteLength >= size) buffer = spare
    }
    buffer ??= new ArrayBuffer(Math.max(size, LINE_BUFFER_BYTES))
    return new Uint8Array(buffer, 0, size)
  }

  #push(bytes: Buffer): void {
    this.#chunks.push(bytes)
    this.#size += bytes.length
  }

  /** Sends the entries gathered here (they go before whatever is sent next). */
  #flush(): void {
    if (this.#failed !== undefined) throw this.#failed
    if (this.#size === 0) return
    const data = this.#message(this.#size)
    let at = 0
    for (const chunk of this.#chunks) {
      data.set(chunk, at)
      at += chunk.length
    }
    this.#chunks = []
    this.#size = 0
    // Counted until the index thread acknowledges them, as lines are: add and addEntries wait
    // while it is behind, rather than queue an increment's whole index in messages.
    this.#inFlight += data.length
    this.#worker!.postMessage({ type: 'bytes', data }, [data.buffer])
  }

  /** Ends the index thread and closes the file. */
  async #stop(): Promise<void> {
    await this.#worker?.terminate()
    if (!this.#closed && this.#fd !== undefined) {
      this.#closed = true
      closeSync(this.#fd)
    }
  }

  /**
   * Resolves once an encrypted index's key is derived (at once for a plain one); never rejects (a
   * failure is thrown by the next call). A backup waits for it before streaming, so that scrypt's
   * 64 MiB is freed before the streaming buffers are in use rather than adding to their peak
   * (docs/performance.md §Round four: backup).
   */
  async ready(): Promise<void> {
    await this.#sealed?.catch(() => undefined)
  }

  /**
   * `stamps`: the lines of this table come with their row stamps (Source.readRecordLinesWithStamps,
   * `<line>\x02<xmin>\n`); the index thread, which hashes each key anyway, encodes each row's
   * stamps entry (storage/row-stamps.ts) and hands them to `stamps`, in order, by endTable.
   * `digestStamps`: those stamps are 32 hex digits (a 'digest' table, MariaDB), not an xmin.
   * `blockRows`: the index thread also hashes each run of that many lines given to addLines or
   * compareLines (storage/row-blocks.ts); tableBlocks returns them. `order`: the entries will be
   * given in that key order (TableHead.order), written in the table's header.
   */
  async beginTable(
    table: TableSchema,
    options: { readonly stamps?: (entries: Uint8Array) => void; readonly digestStamps?: boolean; readonly blockRows?: number; readonly order?: string } = {},
  ): Promise<void> {
    this.#flush()
    this.#stamps = options.stamps
    const header = Buffer.from(JSON.stringify({ table: table.name, key: table.primaryKey, columns: columnsSignature(table), ...(options.order !== undefined ? { order: options.order } : {}) }))
    const head = new Uint8Array(5 + header.length)
    head[0] = 0x54 // T
    Buffer.from(head.buffer).writeUInt32BE(header.length, 1)
    head.set(header, 5)
    this.#worker!.postMessage({ type: 'table', head, columns: table.columns.map((c) => c.name), key: [...table.primaryKey], stamped: options.stamps !== undefined, digestStamps: options.digestStamps === true, blockRows: options.blockRows ?? 0 }, [head.buffer])
  }

  /** One row: its key digest, row digest (16 bytes each) and key text. */
  async add(keyDigest: Buffer, rowDigest: Buffer, key: string): Promise<void> {
    const keyBytes = Buffer.from(key)
    if (keyBytes.length > 0xffff) throw new FormatError(`a key of ${keyBytes.length} bytes is too long for the digest index (at most 65535)`)
    const entry = Buffer.allocUnsafe(1 + 2 * DIGEST_BYTES + 2 + keyBytes.length)
    entry[0] = 0x52 // R
    keyDigest.copy(entry, 1, 0, DIGEST_BYTES)
    rowDigest.copy(entry, 1 + DIGEST_BYTES, 0, DIGEST_BYTES)
    entry.writeUInt16BE(keyBytes.length, 1 + 2 * DIGEST_BYTES)
    keyBytes.copy(entry, 3 + 2 * DIGEST_BYTES)
    this.#push(entry)
    if (this.#size >= 1 << 20) {
      this.#flush()
      await this.#settle(MAX_IN_FLIGHT_BYTES)
    }
  }

  /**
   * Entries already encoded (`R` keyDigest rowDigest uint16be(length) keyText each: see
   * encodeEntry, or TableDigests.entryBytes: an increment's unchanged rows, copied from its
   * parent's index whole), of the table begun last. The bytes are not copied until they are
   * sent: the caller must leave them as they are.
   */
  async addEntries(entries: Buffer): Promise<void> {
    for (let from = 0; from < entries.length; ) {
      const to = Math.min(entries.length, from + Math.max(1 << 16, (1 << 20) - this.#size))
      this.#push(entries.subarray(from, to))
      from = to
      if (this.#size >= 1 << 20) {
        this.#flush()
        await this.#settle(MAX_IN_FLIGHT_BYTES)
      }
    }
  }

  /**
   * Adds every record line of a chunk (each followed by `\n`) of the table begun last: one entry
   * each, its key cut out of the line's canonical text when the line starts with the columns in
   * order (as every source writes it; keyCutter), otherwise parsed out of it. Each line ends in
   * its row stamp (`\x02<xmin>`) when the table was begun with `stamps`. The bytes are copied:
   * the caller may reuse `lines` at once. Waits while the index thread is behind.
   */
  async addLines(lines: Buffer, table: TableSchema): Promise<void> {
    if (table.primaryKey.length === 0 || lines.length === 0) return
    this.#flush()
    const data = this.#message(lines.length)
    data.set(lines)
    this.#inFlight += data.length
    this.#worker!.postMessage({ type: 'lines', data }, [data.buffer])
    await this.#settle(MAX_IN_FLIGHT_BYTES)
  }

  /** Waits until at most `bytes` of lines are with the index thread; throws its failure. */
  async #settle(bytes: number): Promise<void> {
    while (this.#inFlight > bytes && this.#failed === undefined) {
      await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = undefined
    }
    if (this.#failed !== undefined) throw this.#failed
  }

  /** Adds rows (wire encoding) of the table begun last; their record line is JSON.stringify(row), as the writer writes it. */
  async addRows(rows: readonly Record<string, unknown>[], key: readonly string[]): Promise<void> {
    if (key.length === 0 || rows.length === 0) return
    let text = ''
    for (const row of rows) text += `${JSON.stringify(row)}\n`
    await this.addLines(Buffer.from(text), { primaryKey: key } as TableSchema)
  }

  /**
   * Makes the table begun last an increment's table compared with its parent's entries on the
   * index thread (docs/performance.md §Round six: SQLite increments): each chunk of record lines
   * given to compareLines gets its entries as addLines writes them, and comes back with the lines
   * that are new or differ from the parent's. compareEnd ends it. The table must have a key.
   */
  compareWith(parent: TableDigests): void {
    this.#flush()
    const { digests, keyStarts, keyTexts } = parent.arrays()
    // Copies (structured clone): the parent's index stays usable here.
    this.#worker!.postMessage({ type: 'parent', digests, keyStarts, keyTexts })
  }

  /**
   * One chunk of record lines (each followed by `\n`) of a table under compareWith: written to
   * the index as addLines does (the bytes are copied; the caller may reuse `lines`). Resolves once
   * the chunk is handed over (waiting while the index thread is behind); its `result` resolves, in
   * order, with the chunk's row count and the lines (with their `\n`) that are new or changed since
   * the parent, undefined when none.
   */
  async compareLines(lines: Buffer, table: TableSchema): Promise<{ readonly result: Promise<{ count: number; changed: Buffer | undefined }> }> {
    const result = new Promise<{ count: number; changed: Buffer | undefined }>((resolve, reject) => {
      this.#comparing.push(resolve)
      this.#done.catch(reject)
    })
    result.catch(() => undefined)
    if (lines.length === 0) {
      this.#comparing.pop()
      return { result: Promise.resolve({ count: 0, changed: undefined }) }
    }
    await this.addLines(lines, table)
    return { result }
  }

  /** Ends compareWith's comparison: one byte per parent entry, 1 where a row of the same key was given. */
  async compareEnd(): Promise<Uint8Array> {
    this.#flush()
    const seen = new Promise<Uint8Array>((resolve, reject) => {
      this.#seen = resolve
      this.#done.catch(reject)
    })
    this.#worker!.postMessage({ type: 'seen' })
    return seen
  }

  /** The block digests of the lines of the table begun last with `blockRows` (uint16be(rows) digest[16] each, row-blocks.ts). */
  async tableBlocks(): Promise<Uint8Array> {
    this.#flush()
    const blocks = new Promise<Uint8Array>((resolve, reject) => {
      this.#blocks = resolve
      this.#done.catch(reject)
    })
    this.#worker!.postMessage({ type: 'blocks' })
    return blocks
  }

  async endTable(): Promise<void> {
    if (this.#stamps !== undefined) {
      // Every stamps entry of the table comes back before it ends (with the last lines' ack).
      await this.#settle(0)
      this.#stamps = undefined
    }
    this.#push(Buffer.from('E'))
    this.#flush()
  }

  /** Finishes the file (its thread fsyncs it) and renames it to `<backup>.digests`. */
  async commit(backupPath: string): Promise<void> {
    this.#flush()
    this.#worker!.postMessage({ type: 'end' })
    try {
      await this.#done
      if (this.#sealed !== undefined) {
        await this.#sealing
        const { encrypt, file } = await this.#sealed
        encrypt.end()
        await finished(file)
        fsyncSync(this.#fd!)
      }
    } finally {
      await this.#stop()
    }
    await fs.rename(this.#temporary, digestIndexPathFor(backupPath))
  }

  async abort(): Promise<void> {
    await this.#stop()
    await fs.rm(this.#temporary, { force: true })
  }
}

/**
 * Writes one index entry (`R` keyDigest[16] rowDigest[16] uint16be(length) keyText) into `out` at
 * `at`, the key text being `key`'s bytes from `start` to `end`; returns where the entry ends, or
 * -1 when `out` has no room. A key over 65535 bytes is a FormatError.
 */
export function encodeEntry(out: Buffer, at: number, keyDigest: Buffer, rowDigest: Buffer, key: Buffer, start: number, end: number): number {
  const length = end - start
  if (length > 0xffff) throw new FormatError(`a key of ${length} bytes is too long for the digest index (at most 65535)`)
  const size = 3 + 2 * DIGEST_BYTES + length
  if (at + size > out.length) return -1
  out[at] = 0x52 // R
  keyDigest.copy(out, at + 1, 0, DIGEST_BYTES)
  rowDigest.copy(out, at + 1 + DIGEST_BYTES, 0, DIGEST_BYTES)
  out.writeUInt16BE(length, at + 1 + 2 * DIGEST_BYTES)
  key.copy(out, at + 3 + 2 * DIGEST_BYTES, start, end)
  return at + size
}

/**
 * Cuts a table's key text out of a canonical record line without parsing it: the line is
 * `{"c1":v1,"c2":v2,…}` with the columns in order, so the members up to the last key column are
 * walked, string values skipped to their closing quote, scalars to the next `,`. Each key value's
 * text is already canonical, so the key text is `[` + those texts joined by `,` + `]`, exactly
 * JSON.stringify of the parsed values. Undefined (parse instead) when the line is not spelled so,
 * or a member before the key is an object or array.
 */
export function keyCutter(table: TableSchema): (line: Buffer) => string | undefined {
  const positions = table.primaryKey.map((name) => table.columns.findIndex((c) => c.name === name))
  if (positions.some((p) => p < 0)) return () => undefined
  const last = Math.max(...positions)
  const names = table.columns.slice(0, last + 1).map((c) => Buffer.from(`${JSON.stringify(c.name)}:`))
  return (line) => {
    if (line[0] !== 0x7b) return undefined
    const values: string[] = new Array<string>(last + 1)
    let at = 1
    for (let i = 0; i <= last; i++) {
      const name = names[i]!
      if (at + name.length > line.length || line.compare(name, 0, name.length, at, at + name.length) !== 0) return undefined
      at += name.length
      const begin = at
      const first = line[at]
      if (first === 0x22) {
        at++
        for (;;) {
          const c = line[at]
          if (c === undefined) return undefined
          if (c === 0x5c) at += 2
          else if (c === 0x22) break
          else at++
        }
        at++
      } else if (first === 0x7b || first === 0x5b || first === undefined) {
        return undefined
      } else {
        while (at < line.length && line[at] !== 0x2c && line[at] !== 0x7d) at++
      }
      values[i] = line.toString('utf8', begin, at)
      if (line[at] !== 0x2c && line[at] !== 0x7d) return undefined
      at++
    }
    return `[${positions.map((p) => values[p]).join(',')}]`
  }
}

/**
 * One table of a loaded index. The entries stay where the file's bytes were decompressed (`data`,
 * `offsets[i]` the start of entry `i`, `offsets[count]` the end of the last): loading copies
 * nothing, and an increment copies runs of unchanged entries into its own index whole (entryBytes).
 */
export class TableDigests {
  readonly name: string
  readonly key: readonly string[]
  readonly columns: string
  readonly #data: Buffer
  readonly #offsets: Uint32Array
  readonly #slots: Int32Array
  readonly #mask: number
  readonly count: number

  constructor(name: string, key: readonly string[], columns: string, data: Buffer, offsets: Uint32Array) {
    this.name = name
    this.key = key
    this.columns = columns
    this.#data = data
    this.#offsets = offsets
    this.count = offsets.length - 1
    let size = 16
    while (size < this.count * 2) size *= 2
    this.#slots = new Int32Array(size).fill(-1)
    this.#mask = size - 1
    for (let i = 0; i < this.count; i++) {
      const at = offsets[i]! + 1
      let slot = ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) & this.#mask
      while (this.#slots[slot] !== -1) slot = (slot + 1) & this.#mask
      this.#slots[slot] = i
    }
  }

  /** The entry of this key digest, or -1. */
  find(keyDigest: Buffer): number {
    const data = this.#data
    let slot = keyDigest.readUInt32BE(0) & this.#mask
    for (;;) {
      const entry = this.#slots[slot]!
      if (entry === -1) return -1
      const at = this.#offsets[entry]! + 1
      let k = 0
      while (k < DIGEST_BYTES && data[at + k] === keyDigest[k]) k++
      if (k === DIGEST_BYTES) return entry
      slot = (slot + 1) & this.#mask
    }
  }

  /** Whether entry `i`'s row digest equals `rowDigest`. */
  sameRow(i: number, rowDigest: Buffer): boolean {
    const at = this.#offsets[i]! + 1 + DIGEST_BYTES
    return this.#data.compare(rowDigest, 0, DIGEST_BYTES, at, at + DIGEST_BYTES) === 0
  }

  /**
   * The entries as three arrays (digest-index.ts' own use: an increment's comparison on the index
   * thread): per entry key digest + row digest (32 bytes), where each key text starts (count + 1),
   * and the key texts. Made from the loaded bytes on each call.
   */
  arrays(): { digests: Buffer; keyStarts: Uint32Array; keyTexts: Buffer } {
    const data = this.#data
    const offsets = this.#offsets
    const count = this.count
    const digests = Buffer.allocUnsafe(count * 2 * DIGEST_BYTES)
    const keyStarts = new Uint32Array(count + 1)
    let keyBytes = 0
    for (let i = 0; i < count; i++) keyBytes += offsets[i + 1]! - offsets[i]! - 3 - 2 * DIGEST_BYTES
    const keyTexts = Buffer.allocUnsafe(keyBytes)
    let keyAt = 0
    // Byte loops, not Buffer#copy: its fixed cost per call dominates for pieces this small.
    for (let i = 0; i < count; i++) {
      const at = offsets[i]!
      const to = i * 2 * DIGEST_BYTES
      for (let k = 0; k < 2 * DIGEST_BYTES; k++) digests[to + k] = data[at + 1 + k]!
      keyStarts[i] = keyAt
      const from = at + 3 + 2 * DIGEST_BYTES
      const end = offsets[i + 1]!
      for (let k = from; k < end; k++) keyTexts[keyAt++] = data[k]!
    }
    keyStarts[count] = keyAt
    return { digests, keyStarts, keyTexts }
  }

  keyDigest(i: number): Buffer {
    const at = this.#offsets[i]! + 1
    return this.#data.subarray(at, at + DIGEST_BYTES)
  }

  rowDigest(i: number): Buffer {
    const at = this.#offsets[i]! + 1 + DIGEST_BYTES
    return this.#data.subarray(at, at + DIGEST_BYTES)
  }

  keyText(i: number): string {
    return this.#data.toString('utf8', this.#offsets[i]! + 3 + 2 * DIGEST_BYTES, this.#offsets[i + 1]!)
  }

  /** Whether entry `i`'s key text is the bytes `bytes[begin, end)` (no string made). */
  keyTextEquals(i: number, bytes: Uint8Array, begin: number, end: number): boolean {
    const from = this.#offsets[i]! + 3 + 2 * DIGEST_BYTES
    const length = end - begin
    if (this.#offsets[i + 1]! - from !== length) return false
    const data = this.#data
    for (let k = 0; k < length; k++) if (data[from + k] !== bytes[begin + k]) return false
    return true
  }

  /** Whether entry `i`'s key digest is the 16 bytes of `bytes` at `at`. */
  keyDigestEquals(i: number, bytes: Uint8Array, at: number): boolean {
    const from = this.#offsets[i]! + 1
    const data = this.#data
    for (let k = 0; k < DIGEST_BYTES; k++) if (data[from + k] !== bytes[at + k]) return false
    return true
  }

  /** Entries `from` to `to` (excluded) as the index file holds them ('R' …): DigestIndexWriter.addEntries copies them into a new index. */
  entryBytes(from: number, to: number): Buffer {
    return this.#data.subarray(this.#offsets[from]!, this.#offsets[to]!)
  }

}

/** A table's header in a digest index. */
export interface TableHead {
  readonly name: string
  readonly key: readonly string[]
  readonly columns: string
  /**
   * `KEY_ORDER_C` (adapters/key-order.ts): its entries were written in that key order (perhaps a
   * few rows at the end out of it), so an increment may merge them with its rows as a stream.
   */
  readonly order?: string
}

export interface DigestIndex {
  readonly file: string
  readonly tables: ReadonlyMap<string, TableDigests>
}

/** An index entry: 'R' keyDigest[16] rowDigest[16] uint16be(length) keyText. */
const INDEX_ENTRY: EntryShape = {
  fixed: 3 + 2 * DIGEST_BYTES,
  length: (bytes, at) => (bytes[at] === 0x52 ? 3 + 2 * DIGEST_BYTES + ((bytes[at + 1 + 2 * DIGEST_BYTES]! << 8) | bytes[at + 2 + 2 * DIGEST_BYTES]!) : undefined),
}

/**
 * A parent's digest index read table by table, as an increment walks its tables (`table`): only
 * the table asked for is in memory, in a compact form (TableDigests), never the whole file. The
 * tables come in the file's order, which is the order backups walk them, so the file is read once;
 * a table asked for after the reader has passed it opens the file again (a schema whose tables
 * are now walked in another order). `finish` reads the rest of the file, so that the gzip or
 * encryption checks of its end have run before an increment is committed.
 */
export class DigestIndexReader {
  readonly file: string
  readonly #open: () => Promise<SectionReader>
  /** The tables the parent has (its catalog entry's), when known: others are not looked for. */
  readonly #names: ReadonlySet<string> | undefined
  #reader: SectionReader
  /** Tables read past in the current pass over the file. */
  #passed = new Set<string>()
  /** The table whose header was read and whose entries were not yet taken. */
  #pending: TableHead | undefined

  private constructor(file: string, open: () => Promise<SectionReader>, reader: SectionReader, names: ReadonlySet<string> | undefined) {
    this.file = file
    this.#open = open
    this.#reader = reader
    this.#names = names
  }

  /**
   * Opens `<backup>.digests` and checks its header. Undefined when there is none; FormatError when
   * it is damaged (here or, further in, from `table` and `finish`). An encrypted index needs
   * `passphrase` (UsageError without it, IntegrityError 'wrong-passphrase' or 'tampered' as for a
   * backup). `tables`: the parent's tables (its catalog entry), so that a table it lacks is not
   * looked for through the whole file. `pieceBytes`: the size of its reads (SECTION_PIECE_BYTES).
   */
  static async open(
    backupFile: string,
    options: { readonly passphrase?: string; readonly tables?: readonly string[]; readonly pieceBytes?: number } = {},
  ): Promise<DigestIndexReader | undefined> {
    const file = digestIndexPathFor(backupFile)
    const head = Buffer.alloc(HEADER_LENGTH)
    let headLength: number
    try {
      const handle = await fs.open(file, 'r')
      try {
        headLength = (await handle.read(head, 0, HEADER_LENGTH, 0)).bytesRead
      } finally {
        await handle.close()
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
    const encrypted = hasContainerMagic(head.subarray(0, headLength))
    if (encrypted && options.passphrase === undefined) {
      throw new UsageError(`The digest index ${path.basename(file)} is encrypted, as its backup is: give the backup's passphrase (${PASSPHRASE_ENV} or --passphrase-file FILE).`, {
        code: 'NO_PASSPHRASE',
      })
    }
    const open = async (): Promise<SectionReader> =>
      indexSection(file, encrypted, async () =>
        // Decrypted and decompressed as a backup is (chunk tags checked, gzip inside).
        SectionReader.open(encrypted ? ((await openBackupStream(file, { passphrase: options.passphrase, readBytes: options.pieceBytes ?? SECTION_PIECE_BYTES })) as AsyncIterable<Buffer>) : gunzipFile(file, options.pieceBytes), MAGIC),
      )
    return new DigestIndexReader(file, open, await open(), options.tables === undefined ? undefined : new Set(options.tables))
  }

  /** The entries of table `name`, or undefined when the index has no such table. */
  async table(name: string): Promise<TableDigests | undefined> {
    const head = await this.head(name)
    return head === undefined ? undefined : this.load()
  }

  /**
   * The header of table `name` (undefined when the index has no such table), the reader then
   * standing at its entries: `load` takes them whole, `entries` in batches. Left untaken, they are
   * read past by the next call.
   */
  async head(name: string): Promise<TableHead | undefined> {
    if (this.#names !== undefined && !this.#names.has(name)) return undefined
    await this.#skipPending()
    if (this.#passed.has(name)) {
      this.#reader.close()
      this.#reader = await this.#open()
      this.#passed = new Set()
    }
    for (;;) {
      const next = await this.#nextHead()
      if (next === undefined || next.name === name) return next
      await this.#skipPending()
    }
  }

  /** The entries of the table whose head was read last, whole. */
  async load(): Promise<TableDigests> {
    const head = this.#pending
    if (head === undefined) throw new Error('DigestIndexReader.load: no table header was read')
    this.#pending = undefined
    const { body, offsets } = await indexSection(this.file, false, async () => this.#reader.body(INDEX_ENTRY))
    return new TableDigests(head.name, head.key, head.columns, body, offsets)
  }

  /**
   * The entries of the table whose head was read last, in batches of whole entries of about
   * `batchBytes` ('R' … each, `offsets[i]` where entry i starts, `offsets[count]` the end): the
   * table is never held whole. Damage as `table`'s.
   */
  async *entries(batchBytes: number): AsyncGenerator<{ body: Buffer; offsets: Uint32Array }> {
    if (this.#pending === undefined) throw new Error('DigestIndexReader.entries: no table header was read')
    this.#pending = undefined
    const batches = this.#reader.entries(INDEX_ENTRY, batchBytes)
    for (;;) {
      const next = await indexSection(this.file, false, async () => batches.next())
      if (next.done === true) return
      yield next.value
    }
  }

  async #skipPending(): Promise<void> {
    if (this.#pending === undefined) return
    for await (const batch of this.entries(SECTION_PIECE_BYTES)) void batch
  }

  async #nextHead(): Promise<TableHead | undefined> {
    const bytes = await indexSection(this.file, false, async () => this.#reader.header())
    if (bytes === undefined) return undefined
    let header: { table: string; key: string[]; columns: string; order?: string }
    try {
      header = JSON.parse(bytes.toString('utf8')) as typeof header
    } catch {
      throw damagedIndex(this.file, 'a table header')
    }
    this.#passed.add(header.table)
    this.#pending = { name: header.table, key: header.key, columns: header.columns, ...(typeof header.order === 'string' ? { order: header.order } : {}) }
    return this.#pending
  }

  /** The next table of the file, in the file's order; undefined at its end. */
  async nextTable(): Promise<TableDigests | undefined> {
    await this.#skipPending()
    const head = await this.#nextHead()
    return head === undefined ? undefined : this.load()
  }

  /** Reads the rest of the index: FormatError (or IntegrityError, encrypted) when its end is damaged. */
  async finish(): Promise<void> {
    this.#pending = undefined
    await indexSection(this.file, false, async () => this.#reader.drain())
  }

  close(): void {
    this.#reader.close()
  }
}

function damagedIndex(file: string, why: string): FormatError {
  return new FormatError(`The digest index ${file} is damaged (${why}): make a full backup to start a new chain.`)
}

/** Runs a read of the index, naming a damaged one as such; an encrypted one's errors are its container's. */
async function indexSection<T>(file: string, encrypted: boolean, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    if (error instanceof SectionDamage) {
      if (error.tooLarge) {
        throw new UsageError(`A table of the digest index ${file} is larger than 4 GiB once decompressed, more than an increment can compare with: make a full backup (or split the database's backups by --tables).`, {
          code: 'BAD_PARENT',
        })
      }
      throw damagedIndex(file, error.message)
    }
    if (!encrypted && typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).code!.startsWith('Z_')) throw damagedIndex(file, 'not gzip data')
    throw error
  }
}

/**
 * Loads `<backup>.digests` whole (every table; an increment reads it table by table instead,
 * DigestIndexReader). Undefined when there is none; errors as DigestIndexReader's.
 */
export async function loadDigestIndex(backupFile: string, options: { readonly passphrase?: string } = {}): Promise<DigestIndex | undefined> {
  const reader = await DigestIndexReader.open(backupFile, options)
  if (reader === undefined) return undefined
  const tables = new Map<string, TableDigests>()
  try {
    for (;;) {
      const next = await reader.nextTable()
      if (next === undefined) break
      tables.set(next.name, next)
    }
    await reader.finish()
  } finally {
    reader.close()
  }
  return { file: reader.file, tables }
}
