/**
 * Reads a gzip sidecar (digest index, row stamps) one table section at a time, from its
 * decompressed stream: `magic`, then per table 'T' uint32be(length) JSON header, entries, 'E'.
 * Only the buffered pieces of the stream and the section being read are in memory, so an
 * increment holds its parent's largest table, not the whole file (docs/performance.md §Round
 * nine: peak RSS of increments). The gzip trailer's CRC is checked when the stream ends
 * (`drain`), so a caller that must not use damaged bytes drains before it commits anything.
 */
import { createReadStream } from 'node:fs'
import { createGunzip } from 'node:zlib'

/**
 * The default size of the file reads and of the pieces the gunzip hands over. 1 MiB pieces cost
 * less stream overhead (about 20 ms of CPU per 16 MB against 120 ms) but an increment's peak RSS
 * was 10–20 MB higher with them, and its CPU no lower within the noise (docs/performance.md §Round
 * nine). A piece is dropped once its bytes are copied into their section.
 */
export const SECTION_PIECE_BYTES = 64 * 1024

const EMPTY = Buffer.alloc(0)

/** Why a section could not be read: the caller words its own error (or ignores the file). */
export class SectionDamage extends Error {
  /** A section over 4 GiB: not damaged, but more than 32-bit offsets address. */
  readonly tooLarge: boolean

  constructor(message: string, options: { readonly tooLarge?: boolean } = {}) {
    super(message)
    this.tooLarge = options.tooLarge === true
  }
}

/** One table's section: its JSON header's bytes and its entries (without the closing 'E'). */
export interface Section {
  readonly header: Buffer
  readonly body: Buffer
  /** Where each entry starts in `body`, and `body.length` last (count + 1 values). */
  readonly offsets: Uint32Array
}

/**
 * `length`: the length of the entry whose first `fixed` bytes are `bytes[at, at + fixed)` (its tag
 * first), or undefined when the tag is no entry's.
 */
export interface EntryShape {
  readonly fixed: number
  length(bytes: Buffer, at: number): number | undefined
}

/** The plain gzip stream of a file, in pieces of `pieceBytes`. */
export function gunzipFile(file: string, pieceBytes = SECTION_PIECE_BYTES): AsyncIterable<Buffer> {
  const input = createReadStream(file, { highWaterMark: pieceBytes })
  const gunzip = createGunzip({ chunkSize: pieceBytes })
  input.on('error', (error) => gunzip.destroy(error))
  // pipe does not close the file when the gunzip is destroyed early (SectionReader.close).
  gunzip.on('close', () => input.destroy())
  return input.pipe(gunzip)
}

/** A sidecar's decompressed stream, taken a section at a time (`next`), after its magic. */
export class SectionReader {
  readonly #iterator: AsyncIterator<Buffer>
  readonly #stream: AsyncIterable<Buffer>
  /** Buffered bytes not yet taken; position 0 is the first byte of #pieces[0]. */
  #pieces: Buffer[] = []
  #length = 0
  /** byteAt's cursor: the piece it looked in last and where that piece starts. */
  #piece = 0
  #pieceStart = 0
  #ended = false

  private constructor(stream: AsyncIterable<Buffer>) {
    this.#stream = stream
    this.#iterator = stream[Symbol.asyncIterator]()
  }

  /** Opens `stream` and checks that it begins with `magic` (SectionDamage otherwise). */
  static async open(stream: AsyncIterable<Buffer>, magic: Buffer): Promise<SectionReader> {
    const reader = new SectionReader(stream)
    try {
      if (!(await reader.#fill(magic.length)) || !reader.#take(magic.length).equals(magic)) throw new SectionDamage('no header')
    } catch (error) {
      reader.close()
      throw error
    }
    return reader
  }

  /** Pulls pieces until `size` bytes are buffered; false when the stream ends first. */
  async #fill(size: number): Promise<boolean> {
    while (this.#length < size) {
      if (this.#ended) return false
      const next = await this.#iterator.next()
      if (next.done === true) {
        this.#ended = true
        return false
      }
      const piece = next.value
      if (piece.length === 0) continue
      this.#pieces.push(piece)
      this.#length += piece.length
    }
    return true
  }

  /** Moves the cursor to the piece holding buffered byte `at` (#piece, #pieceStart). */
  #seek(at: number): void {
    if (at < this.#pieceStart) {
      this.#piece = 0
      this.#pieceStart = 0
    }
    while (at >= this.#pieceStart + this.#pieces[this.#piece]!.length) {
      this.#pieceStart += this.#pieces[this.#piece]!.length
      this.#piece++
    }
  }

  #byteAt(at: number): number {
    this.#seek(at)
    return this.#pieces[this.#piece]![at - this.#pieceStart]!
  }

  /** A copy of buffered bytes `at` to `at + size` (an entry's fixed part across two pieces). */
  #copy(at: number, size: number): Buffer {
    const out = Buffer.allocUnsafe(size)
    for (let k = 0; k < size; k++) out[k] = this.#byteAt(at + k)
    return out
  }

  /** The first `size` buffered bytes, taken off the buffer (one copy when they span pieces). */
  #take(size: number): Buffer {
    this.#piece = 0
    this.#pieceStart = 0
    const first = this.#pieces[0]
    let out: Buffer
    if (size === 0) out = Buffer.alloc(0)
    else if (first!.length >= size) out = first!.subarray(0, size)
    else {
      // Copied piece by piece into one buffer of the exact size (as Buffer.concat would).
      out = Buffer.allocUnsafeSlow(size)
      let at = 0
      let whole = 0
      while (at < size) {
        const piece = this.#pieces[whole]!
        const used = Math.min(piece.length, size - at)
        piece.copy(out, at, 0, used)
        at += used
        if (used === piece.length) {
          this.#pieces[whole++] = EMPTY
        } else {
          this.#pieces[whole] = piece.subarray(used)
        }
      }
      this.#pieces.splice(0, whole)
      this.#length -= size
      return out
    }
    this.#pieces[0] = first!.subarray(size)
    if (this.#pieces[0].length === 0) this.#pieces.shift()
    this.#length -= size
    return out
  }

  /**
   * The next table's section, or undefined at the end of the stream. SectionDamage when the bytes
   * are not a section of this shape, or the stream stops inside one; a gzip error as it comes.
   */
  async next(shape: EntryShape): Promise<Section | undefined> {
    const header = await this.header()
    if (header === undefined) return undefined
    const { body, offsets } = await this.body(shape)
    return { header, body, offsets }
  }

  /**
   * The next table's header (its JSON's bytes), or undefined at the end of the stream; the reader
   * is then at the table's entries, which `body` or `entries` take (one of them, before the next
   * header).
   */
  async header(): Promise<Buffer | undefined> {
    if (!(await this.#fill(1))) return undefined
    if (this.#byteAt(0) !== 0x54 || !(await this.#fill(5))) throw new SectionDamage('no table header')
    const headerLength = ((this.#byteAt(1) << 24) | (this.#byteAt(2) << 16) | (this.#byteAt(3) << 8) | this.#byteAt(4)) >>> 0
    if (!(await this.#fill(5 + headerLength))) throw new SectionDamage('a table header cut short')
    return Buffer.from(this.#take(5 + headerLength).subarray(5))
  }

  /** The entries of the table whose header was read last, whole (and its closing 'E'). */
  async body(shape: EntryShape): Promise<{ body: Buffer; offsets: Uint32Array }> {
    let whole: { body: Buffer; offsets: Uint32Array } | undefined
    for await (const batch of this.#entries(shape, Number.POSITIVE_INFINITY)) whole = batch
    return whole!
  }

  /**
   * The entries of the table whose header was read last, in batches of whole entries of about
   * `batchBytes` (the last one, possibly empty, at its closing 'E'): only the batch being used and
   * the buffered pieces are in memory (docs/performance.md §Round ten). Each batch is a buffer of
   * its own, never reused. The caller takes every batch before it reads the next header.
   */
  entries(shape: EntryShape, batchBytes: number): AsyncGenerator<{ body: Buffer; offsets: Uint32Array }> {
    return this.#entries(shape, batchBytes)
  }

  async *#entries(shape: EntryShape, batchBytes: number): AsyncGenerator<{ body: Buffer; offsets: Uint32Array }> {
    let offsets = new Uint32Array(1024)
    let count = 0
    let at = 0
    let total = 0
    for (;;) {
      if (at >= this.#length && !(await this.#fill(at + 1))) throw new SectionDamage('a table cut short')
      this.#seek(at)
      let piece = this.#pieces[this.#piece]!
      let local = at - this.#pieceStart
      if (piece[local] === 0x45) break
      if (at + shape.fixed > this.#length && !(await this.#fill(at + shape.fixed))) throw new SectionDamage('an entry cut short')
      if (local + shape.fixed > piece.length) {
        piece = this.#copy(at, shape.fixed)
        local = 0
      }
      const length = shape.length(piece, local)
      if (length === undefined) throw new SectionDamage('an unknown entry in a table section')
      if (count + 1 >= offsets.length) {
        const grown = new Uint32Array(offsets.length * 2)
        grown.set(offsets)
        offsets = grown
      }
      offsets[count++] = at
      at += length
      if (total + at > 0xffffffff) throw new SectionDamage('a table section over 4 GiB', { tooLarge: true })
      if (at >= batchBytes) {
        if (!(await this.#fill(at))) throw new SectionDamage('an entry cut short')
        offsets[count] = at
        total += at
        yield { body: this.#take(at), offsets: offsets.slice(0, count + 1) }
        count = 0
        at = 0
      }
    }
    offsets[count] = at
    const body = this.#take(at)
    this.#take(1)
    yield { body, offsets: offsets.slice(0, count + 1) }
  }

  /** Reads the rest of the stream, so that the gzip trailer is checked (its error is thrown). */
  async drain(): Promise<void> {
    this.#pieces = []
    this.#length = 0
    while (!this.#ended) {
      const next = await this.#iterator.next()
      if (next.done === true) this.#ended = true
    }
  }

  close(): void {
    this.#pieces = []
    this.#length = 0
    if (!this.#ended) {
      this.#ended = true
      ;(this.#stream as unknown as { destroy?: () => void }).destroy?.()
      void this.#iterator.return?.().catch(() => undefined)
    }
  }
}
