/**
 * The MariaDB backup fast path (MysqlSource.readRecordLines): each row's record line is written
 * byte by byte from the row packet the server sent (text protocol: every value a length-coded
 * string of its text), per column kind, into a pooled Buffer. No value becomes a JS string and
 * no row an object, except where the text must be rewritten (a float's shortest form, BIT,
 * ZEROFILL, non-ASCII text, which is checked to be UTF-8) or base64-encoded (binary).
 *
 * The line is byte for byte `JSON.stringify` of the row readTable gives (encoderFor in
 * mysql-values.ts): test/integration/adapters/mysql-record-lines.test.ts compares the two over
 * the type matrix, edge values and arbitrary text.
 */
import { isUtf8 } from 'node:buffer'
import type { ColumnSchema } from '../adapter.js'
import { encoderFor, typeClassOf, type MysqlTypeClass } from './mysql-values.js'
import { UNKNOWN_ROW_DIGEST } from './mysql-row-digest.js'

/** The part of mysql2's Packet the parser reads: the row's bytes and a cursor over them. */
export interface RowPacket {
  readonly buffer: Buffer
  offset: number
  readLengthCodedNumber(): number | null
}

/** How a column's text becomes JSON: copied as it is, quoted, escaped, or through its encoder. */
type Writer = 'integer' | 'quoted' | 'temporal' | 'timestamp' | 'string' | 'base64' | 'encoded'

const WRITERS: Readonly<Record<MysqlTypeClass, Writer | undefined>> = {
  integer: 'integer',
  year: 'integer',
  bigint: 'quoted',
  decimal: 'quoted',
  date: 'quoted',
  datetime: 'temporal',
  time: 'temporal',
  timestamp: 'timestamp',
  text: 'string',
  json: 'string',
  enum: 'string',
  set: 'string',
  binary: 'base64',
  geometry: 'base64',
  float: 'encoded',
  double: 'encoded',
  bit: 'encoded',
  other: undefined,
}

/** A property name that a JS object lists before the others (an array index), whatever its column position. */
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/

const POOL_BYTES = 1 << 20
const QUOTE = 0x22
const BACKSLASH = 0x5c
const HEX = '0123456789abcdef'
/** JSON.stringify's short escapes of control characters. */
const SHORT_ESCAPES: Readonly<Record<number, number>> = { 8: 0x62, 9: 0x74, 10: 0x6e, 12: 0x66, 13: 0x72 }
/** Per byte of text, what #string does with it: 0 copies it, HIGH copies it (and the text is checked to be UTF-8), ESCAPE escapes it. */
const HIGH = 1
const ESCAPE = 2
const TEXT_BYTE = new Uint8Array(256).map((_, byte) => (byte < 0x20 || byte === QUOTE || byte === BACKSLASH ? ESCAPE : byte >= 0x80 ? HIGH : 0))
/** A run of bytes longer than this is copied by Buffer#copy, a shorter one in a loop (#copy). */
const SHORT_RUN = 32

/**
 * Turns row packets into record lines (each followed by `\n`) for these columns, or undefined
 * when some column has a type it does not know, or a name JSON.stringify of the row would move
 * (an array index).
 */
export function recordLineParser(columns: readonly Pick<ColumnSchema, 'name' | 'type'>[], options: LineShape = {}): RecordLineParser | undefined {
  const writers: Writer[] = []
  for (const column of columns) {
    const writer = WRITERS[typeClassOf(column.type)]
    if (writer === undefined || (ARRAY_INDEX.test(column.name) && Number(column.name) < 2 ** 32 - 1)) return undefined
    writers.push(writer)
  }
  return new RecordLineParser(columns, writers, options)
}

/**
 * How the parser writes a row (row digests, mysql-row-digest.ts):
 * - `array`: the values only, `[v1,v2]`: a key's canonical text (digest-index.ts keyText), when
 *   the columns are the key's;
 * - `stamp`: the row packet has one more value after the columns, the row's digest (32 hex
 *   digits, or NULL, written as mysql-row-digest.ts UNKNOWN_ROW_DIGEST), written after the line
 *   as `\x02<digest>` (the row stamps' line form, storage/row-stamps.ts).
 */
export interface LineShape {
  readonly array?: boolean
  readonly stamp?: boolean
}

const UNKNOWN_STAMP = Buffer.from(UNKNOWN_ROW_DIGEST)

export class RecordLineParser {
  readonly #writers: readonly Writer[]
  readonly #prefixes: readonly Buffer[]
  readonly #encoders: readonly ((raw: unknown) => unknown)[]
  /** Per column, whether its encoder takes the bytes (BIT) rather than the text. */
  readonly #bytes: readonly boolean[]
  #pool = Buffer.allocUnsafe(POOL_BYTES)
  #at = 0
  /**
   * Where the bytes not yet handed out start in the pool: the line being written (next), or the
   * chunk of lines being gathered (append, take). They move together to a new pool when one is needed.
   */
  #start = 0

  /** `]` or `}`. */
  readonly #close: number
  readonly #stamp: boolean

  constructor(columns: readonly Pick<ColumnSchema, 'name' | 'type'>[], writers: readonly Writer[], shape: LineShape = {}) {
    this.#writers = writers
    this.#prefixes = shape.array === true ? columns.map((_, i) => Buffer.from(i === 0 ? '[' : ',')) : columns.map((c, i) => Buffer.from(`${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`))
    this.#close = shape.array === true ? 0x5d : 0x7d
    this.#stamp = shape.stamp === true
    this.#encoders = columns.map((c, i) => (writers[i] === 'encoded' ? encoderFor(c) : () => undefined))
    this.#bytes = columns.map((c) => typeClassOf(c.type) === 'bit')
  }

  /** The record line of the row in `packet` (positioned at its first value), with its `\n`: a view into the pool. */
  next(packet: RowPacket): Buffer {
    this.#start = this.#at
    this.#write(packet)
    const line = this.#pool.subarray(this.#start, this.#at)
    this.#start = this.#at
    return line
  }

  /**
   * Writes the row's record line (as next) after the lines appended since the last take(), so that
   * take() hands them out as one Buffer with no copy. Lines given by next() meanwhile would be
   * taken with them: a parser is used one way or the other.
   */
  append(packet: RowPacket): void {
    this.#write(packet)
  }

  /**
   * The bytes appended since the last take(): a view into the pool, never written again. When
   * the pool then has less than `room` bytes left, the next line starts a new pool (the old one's
   * tail is left unused), so that a caller cutting chunks by nearlyFull does not get a run of tiny ones.
   */
  take(room = 0): Buffer {
    const chunk = this.#pool.subarray(this.#start, this.#at)
    this.#start = this.#at
    if (this.#pool.length - this.#at < room) {
      this.#pool = Buffer.allocUnsafe(POOL_BYTES)
      this.#start = 0
      this.#at = 0
    }
    return chunk
  }

  /** Bytes appended and not yet taken. */
  get pending(): number {
    return this.#at - this.#start
  }

  /**
   * Whether the pool has less than `bytes` left: a caller of append takes its chunk then, so that
   * a new pool starts with a new chunk rather than with a copy of the chunk so far.
   */
  nearlyFull(bytes: number): boolean {
    return this.#pool.length - this.#at < bytes
  }

  #write(packet: RowPacket): void {
    const buffer = packet.buffer
    if (this.#writers.length === 0) this.#byte(this.#close - 2)
    for (let i = 0; i < this.#writers.length; i++) {
      const prefix = this.#prefixes[i]
      this.#copy(prefix, 0, prefix.length)
      const length = packet.readLengthCodedNumber()
      if (length === null) {
        this.#null()
        continue
      }
      const start = packet.offset
      const end = start + length
      packet.offset = end
      switch (this.#writers[i]) {
        case 'integer':
          // The server's text is JSON's, except for leading zeros (ZEROFILL, YEAR 0000).
          if (length > 1 && buffer[start] === 0x30) this.#ascii(String(Number(buffer.toString('latin1', start, end))))
          else this.#copy(buffer, start, end)
          break
        case 'quoted':
          this.#quoted(buffer, start, end, false)
          break
        case 'temporal':
          this.#quoted(buffer, start, trimmedFraction(buffer, start, end), false)
          break
        case 'timestamp':
          this.#quoted(buffer, start, trimmedFraction(buffer, start, end), true)
          break
        case 'string':
          this.#string(buffer, start, end)
          break
        case 'base64':
          this.#ascii(`"${buffer.toString('base64', start, end)}"`)
          break
        case 'encoded':
          // FLOAT and DOUBLE from their text (as Number() reads it), BIT from its bytes.
          this.#text(JSON.stringify(this.#encoders[i](this.#bytes[i] ? buffer.subarray(start, end) : buffer.toString('latin1', start, end))))
          break
      }
    }
    this.#byte(this.#close)
    if (this.#stamp) {
      this.#byte(0x02)
      const length = packet.readLengthCodedNumber()
      if (length === null) this.#copy(UNKNOWN_STAMP, 0, UNKNOWN_STAMP.length)
      else {
        this.#copy(buffer, packet.offset, packet.offset + length)
        packet.offset += length
      }
    }
    this.#byte(0x0a)
  }

  /** Makes room for `bytes` more in the pool, moving the bytes not yet handed out to a new pool if needed. */
  #reserve(bytes: number): void {
    if (this.#at + bytes <= this.#pool.length) return
    const begun = this.#at - this.#start
    const pool = Buffer.allocUnsafe(Math.max(POOL_BYTES, 2 * (begun + bytes)))
    this.#pool.copy(pool, 0, this.#start, this.#at)
    this.#pool = pool
    this.#start = 0
    this.#at = begun
  }

  /** One byte; cheaper than #ascii's call into Buffer#write for the brackets, `\x02` and `\n` of every row. */
  #byte(byte: number): void {
    this.#reserve(1)
    this.#pool[this.#at++] = byte
  }

  #null(): void {
    this.#reserve(4)
    const pool = this.#pool
    pool[this.#at++] = 0x6e
    pool[this.#at++] = 0x75
    pool[this.#at++] = 0x6c
    pool[this.#at++] = 0x6c
  }

  #ascii(text: string): void {
    this.#reserve(text.length)
    this.#at += this.#pool.write(text, this.#at, 'latin1')
  }

  #text(text: string): void {
    this.#reserve(Buffer.byteLength(text))
    this.#at += this.#pool.write(text, this.#at, 'utf8')
  }

  /** Copies bytes; a short run in a loop, which costs less than a call into Buffer#copy. */
  #copy(buffer: Buffer, start: number, end: number): void {
    this.#reserve(end - start)
    if (end - start > SHORT_RUN) {
      this.#at += buffer.copy(this.#pool, this.#at, start, end)
      return
    }
    const pool = this.#pool
    let at = this.#at
    for (let i = start; i < end; i++) pool[at++] = buffer[i]
    this.#at = at
  }

  /** `"<text up to cut>"`, with a DATETIME's space as `T` and, for a TIMESTAMP, a `Z`. */
  #quoted(buffer: Buffer, start: number, cut: number, utc: boolean): void {
    this.#reserve(cut - start + 3)
    const pool = this.#pool
    pool[this.#at++] = QUOTE
    const at = this.#at
    this.#copy(buffer, start, cut)
    // "YYYY-MM-DD HH:MM:SS…" (a TIME has no space at 10: "-838:59:59" is shorter or has ':' there).
    if (cut - start > 10 && pool[at + 10] === 0x20) pool[at + 10] = 0x54
    if (utc) pool[this.#at++] = 0x5a
    pool[this.#at++] = QUOTE
  }

  /**
   * A JSON string of UTF-8 text, escaped as JSON.stringify escapes it: the runs between bytes to
   * escape copied whole. Escaping leaves bytes from 0x80 up as they are, and changes no byte a
   * UTF-8 sequence can hold, so when the text has such bytes it is checked to be UTF-8 as read.
   */
  #string(buffer: Buffer, start: number, end: number): void {
    let kinds = 0
    let escapes = 0
    for (let i = start; i < end; i++) {
      const kind = TEXT_BYTE[buffer[i]]
      kinds |= kind
      if (kind === ESCAPE) escapes++
    }
    if ((kinds & HIGH) !== 0 && !isUtf8(buffer.subarray(start, end))) {
      // What readTable does with bytes that are not UTF-8: decode them with replacement characters.
      this.#text(JSON.stringify(buffer.toString('utf8', start, end)))
      return
    }
    // At most 6 bytes (\u00XX) per escaped byte, plus the quotes.
    this.#reserve(end - start + 5 * escapes + 2)
    const pool = this.#pool
    pool[this.#at++] = QUOTE
    if (escapes === 0) this.#copy(buffer, start, end)
    else {
      let run = start
      for (let i = start; i < end; i++) {
        const byte = buffer[i]
        if (TEXT_BYTE[byte] !== ESCAPE) continue
        this.#copy(buffer, run, i)
        run = i + 1
        let at = this.#at
        pool[at++] = BACKSLASH
        if (byte === QUOTE || byte === BACKSLASH) pool[at++] = byte
        else if (SHORT_ESCAPES[byte] !== undefined) pool[at++] = SHORT_ESCAPES[byte]
        else {
          pool[at++] = 0x75
          pool[at++] = 0x30
          pool[at++] = 0x30
          pool[at++] = HEX.charCodeAt(byte >> 4)
          pool[at++] = HEX.charCodeAt(byte & 15)
        }
        this.#at = at
      }
      this.#copy(buffer, run, end)
    }
    pool[this.#at++] = QUOTE
  }
}

/** The end of a DATETIME/TIMESTAMP/TIME text without its fraction's trailing zeros (and the dot when nothing is left). */
function trimmedFraction(buffer: Buffer, start: number, end: number): number {
  let dot = -1
  for (let i = end - 1; i > start; i--) {
    if (buffer[i] === 0x2e) {
      dot = i
      break
    }
  }
  if (dot < 0) return end
  let cut = end
  while (cut > dot + 1 && buffer[cut - 1] === 0x30) cut--
  return cut === dot + 1 ? dot : cut
}
