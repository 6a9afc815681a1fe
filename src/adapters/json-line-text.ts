/**
 * The byte-level pieces shared by the restores' line rewriters: a record line's JSON, walked
 * once and written as a bulk-load text without parsing it into objects. PostgreSQL's COPY text
 * (postgres/postgres-copy-lines.ts) and MariaDB's LOAD DATA text (mysql/mysql-load-lines.ts)
 * escape the same four characters (backslash, newline, carriage return, tab) the same way and
 * write bytes as hex; they differ in NUL (COPY text cannot hold it, LOAD DATA writes `\0`) and
 * in how strictly a base64 value is checked, which are parameters here.
 *
 * Every function checks JSON's grammar as it goes (numbers, string escapes, raw control
 * characters), so a walk that succeeds vouches that JSON.parse would accept what it read.
 *
 * @module
 */

export const QUOTE = 0x22
export const BACKSLASH = 0x5c
export const TAB = 0x09
export const LF = 0x0a
const CR = 0x0d
const EQUALS = 0x3d
const HEX_DIGITS = Buffer.from('0123456789abcdef')
/** Each byte's value as a base64 character (`A`–`Z`, `a`–`z`, `0`–`9`, `+`, `/`), -1 for any other byte. */
const BASE64_VALUES = (() => {
  const values = new Int8Array(256).fill(-1)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i
  return values
})()

/**
 * Writes the bytes of the base64 text [start, end) of `line` at `at` of `out` as lowercase hex, in
 * one walk, no string made; returns where the hex ends, or -1 for a text that is not groups of
 * four characters, the last one possibly `xx==` or `xxx=`. The bits a padded group leaves over
 * are dropped, as Buffer.from(…, 'base64') drops them, unless `canonical`: then a text whose
 * left-over bits are not zero is refused too (base64ToBytes' check that the text is the one
 * Buffer#toString('base64') writes).
 */
export function base64Hex(line: Buffer, start: number, end: number, out: Buffer, at: number, canonical: boolean): number {
  if ((end - start) % 4 !== 0) return -1
  for (let p = start; p < end; p += 4) {
    const a = BASE64_VALUES[line[p]!]!
    const b = BASE64_VALUES[line[p + 1]!]!
    const c = BASE64_VALUES[line[p + 2]!]!
    const d = BASE64_VALUES[line[p + 3]!]!
    if (a < 0 || b < 0) return -1
    const first = (a << 2) | (b >> 4)
    out[at++] = HEX_DIGITS[first >> 4]!
    out[at++] = HEX_DIGITS[first & 15]!
    if (c < 0 || d < 0) {
      // Only the last group may be padded: `xx==` (one byte) or `xxx=` (two).
      if (p + 4 !== end || line[p + 3] !== EQUALS || (c < 0 && line[p + 2] !== EQUALS)) return -1
      if (canonical && (c < 0 ? (b & 15) !== 0 : (c & 3) !== 0)) return -1
      if (c < 0) break
    }
    const second = ((b & 15) << 4) | (c >> 2)
    out[at++] = HEX_DIGITS[second >> 4]!
    out[at++] = HEX_DIGITS[second & 15]!
    if (d < 0) break
    const third = ((c & 3) << 6) | d
    out[at++] = HEX_DIGITS[third >> 4]!
    out[at++] = HEX_DIGITS[third & 15]!
  }
  return at
}

/** A growable output buffer of bulk-load text. */
export class TextOutput {
  #buffer: Buffer
  #length = 0

  /** `capacity`: the size of a new buffer; or the buffer to write into (a ChunkPool's chunk). */
  constructor(capacity: number | Buffer = 1 << 20) {
    this.#buffer = typeof capacity === 'number' ? Buffer.allocUnsafe(capacity) : capacity
  }

  get length(): number {
    return this.#length
  }

  /** Makes room for `bytes` more bytes. */
  reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + bytes))
    this.#buffer.copy(grown, 0, 0, this.#length)
    this.#buffer = grown
  }

  /** The text written, in the output's own memory: the output is not to be written to again. */
  finish(): Buffer {
    return this.#buffer.subarray(0, this.#length)
  }

  appendString(text: string): void {
    this.reserve(Buffer.byteLength(text))
    this.#length += this.#buffer.write(text, this.#length)
  }

  /** For the line rewriters: the buffer and position to write at (room reserved by the caller). */
  get buffer(): Buffer {
    return this.#buffer
  }

  set position(at: number) {
    this.#length = at
  }
}

/** 1 for the bytes a JSON string holds as they are (not the quote, the backslash, a control character). */
const PLAIN = (() => {
  const plain = new Uint8Array(256).fill(1)
  for (let c = 0; c < 0x20; c++) plain[c] = 0
  plain[QUOTE] = 0
  plain[BACKSLASH] = 0
  return plain
})()

/** Where copyString's output ended (a module variable, not a returned object: no allocation per value). */
export let copiedTo = 0

/**
 * Plain runs at least this long are copied with Buffer.copy; shorter ones byte by byte. Node 20's
 * Buffer.copy makes a Uint8Array view for every call with an offset, which for the short values
 * of most columns cost more (in the garbage collector) than the bytes (docs/performance.md,
 * "Round nine: PostgreSQL restore CPU").
 */
const NATIVE_COPY_BYTES = 64

/**
 * Copies the JSON string whose characters start at `p` (after its opening quote) as bulk-load
 * text (backslash, newline, carriage return and tab escaped with a backslash), up to its closing
 * quote. Returns the position after it, with the output's end in `copiedTo`; or -1 for what
 * JSON.parse would refuse (raw control characters, bad escapes), for lone surrogates (which
 * JSON.parse keeps and UTF-8 cannot hold), and for `\u0000` unless `nul` is true (LOAD DATA's
 * `\0`; COPY text cannot hold NUL).
 */
export function copyString(line: Buffer, p: number, end: number, out: Buffer, at: number, nul = false): number {
  for (;;) {
    // Runs of plain bytes: everything but the quote, the backslash and control characters.
    let run = p
    while (run < end && PLAIN[line[run]!] === 1) run++
    if (run - p >= NATIVE_COPY_BYTES) {
      at += line.copy(out, at, p, run)
      p = run
    } else {
      while (p < run) out[at++] = line[p++]!
    }
    if (p >= end) return -1
    const c = line[p]!
    if (c === QUOTE) {
      copiedTo = at
      return p + 1
    }
    if (c !== BACKSLASH) return -1 // a raw control character: not JSON
    const e = line[p + 1]
    p += 2
    switch (e) {
      case QUOTE:
        out[at++] = QUOTE
        break
      case BACKSLASH:
        out[at++] = BACKSLASH
        out[at++] = BACKSLASH
        break
      case 0x2f: // /
        out[at++] = 0x2f
        break
      case 0x62: // b
        out[at++] = 0x08
        break
      case 0x66: // f
        out[at++] = 0x0c
        break
      case 0x6e: // n
        out[at++] = BACKSLASH
        out[at++] = 0x6e
        break
      case 0x72: // r
        out[at++] = BACKSLASH
        out[at++] = 0x72
        break
      case 0x74: // t
        out[at++] = BACKSLASH
        out[at++] = 0x74
        break
      case 0x75: {
        // \uXXXX, a surrogate pair as two.
        let code = hex4(line, p, end)
        if (code === undefined) return -1
        p += 4
        if (code >= 0xd800 && code <= 0xdbff) {
          if (line[p] !== BACKSLASH || line[p + 1] !== 0x75) return -1
          const low = hex4(line, p + 2, end)
          if (low === undefined || low < 0xdc00 || low > 0xdfff) return -1
          p += 6
          code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
        } else if (code >= 0xdc00 && code <= 0xdfff) return -1
        if (code === 0) {
          if (!nul) return -1
          out[at++] = BACKSLASH
          out[at++] = 0x30 // 0
          break
        }
        at = putCodePoint(code, out, at)
        break
      }
      default:
        return -1
    }
  }
}

/** Whether `line[p, end)` starts with the bytes of `key` (compared here: Buffer.compare with offsets allocates). */
export function startsWith(line: Buffer, p: number, end: number, key: Buffer): boolean {
  const length = key.length
  if (p + length > end) return false
  for (let i = 0; i < length; i++) if (line[p + i] !== key[i]) return false
  return true
}

/** The index after the JSON number that starts at `i` (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?); -1 if none does. */
export function numberEnd(line: Buffer, i: number, end: number): number {
  if (i < end && line[i] === 0x2d) i++
  if (i >= end) return -1
  let c = line[i]!
  if (c === 0x30) i++
  else if (c >= 0x31 && c <= 0x39) {
    i++
    while (i < end && (c = line[i]!) >= 0x30 && c <= 0x39) i++
  } else return -1
  if (i < end && line[i] === 0x2e) {
    i++
    const digits = i
    while (i < end && (c = line[i]!) >= 0x30 && c <= 0x39) i++
    if (i === digits) return -1
  }
  if (i < end && (line[i] === 0x65 || line[i] === 0x45)) {
    i++
    if (i < end && (line[i] === 0x2b || line[i] === 0x2d)) i++
    const digits = i
    while (i < end && (c = line[i]!) >= 0x30 && c <= 0x39) i++
    if (i === digits) return -1
  }
  return i
}

function hex4(line: Buffer, p: number, end: number): number | undefined {
  if (p + 4 > end) return undefined
  let value = 0
  for (let i = 0; i < 4; i++) {
    const c = line[p + i]!
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1
    if (digit < 0) return undefined
    value = value * 16 + digit
  }
  return value
}

/** Writes a code point as UTF-8, escaping the characters both bulk-load texts treat specially. */
function putCodePoint(code: number, out: Buffer, at: number): number {
  if (code < 0x80) {
    if (code === BACKSLASH || code === LF || code === CR || code === TAB) {
      out[at++] = BACKSLASH
      out[at++] = code === LF ? 0x6e : code === CR ? 0x72 : code === TAB ? 0x74 : BACKSLASH
    } else out[at++] = code
  } else if (code < 0x800) {
    out[at++] = 0xc0 | (code >> 6)
    out[at++] = 0x80 | (code & 0x3f)
  } else if (code < 0x10000) {
    out[at++] = 0xe0 | (code >> 12)
    out[at++] = 0x80 | ((code >> 6) & 0x3f)
    out[at++] = 0x80 | (code & 0x3f)
  } else {
    out[at++] = 0xf0 | (code >> 18)
    out[at++] = 0x80 | ((code >> 12) & 0x3f)
    out[at++] = 0x80 | ((code >> 6) & 0x3f)
    out[at++] = 0x80 | (code & 0x3f)
  }
  return at
}
