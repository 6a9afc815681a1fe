/**
 * Record lines → COPY text, without parsing them into objects: the restore fast path
 * (PostgresDestination.writeRecordLines).
 *
 * A record line as mergeback writes it is `{"col1":value,"col2":value,…}` with the columns in
 * order, no whitespace, values in wire encoding. For most kinds the COPY text of a value is the
 * value's own text (wireToPgText passes strings and numbers through), so a line can be rewritten
 * into a COPY line byte by byte: JSON string escapes become characters, and the characters COPY
 * treats specially (backslash, newline, carriage return, tab) get COPY's escapes. That is several
 * times cheaper than JSON.parse and re-encoding, and it keeps the work off the server, which
 * loads COPY text about three times faster than it parses JSON.
 *
 * The rewrite is exact or it does not happen: any line that is not spelled exactly as expected
 * (another key order, a missing column, whitespace, a `\u0000` or a lone surrogate, an array or
 * object value, a value of another JSON type than the kind allows) makes `lineToCopy` return
 * false, and the caller converts that line the ordinary way (JSON.parse, wireToPgText), which
 * also gives the ordinary errors. So the fast path never has to decide anything the ordinary path
 * would decide differently; postgres-copy-lines.test.ts checks both give the same bytes.
 *
 * @module
 */
import type { ValueKind } from '../adapter.js'

/** How one column's value is rewritten. */
const enum Mode {
  /** A JSON string: its characters, COPY-escaped (text, dates, bigint, decimal, json, …). */
  String,
  /** A JSON number or a string (float: "NaN", "-0", …): the number's text, or the string's characters. */
  NumberOrString,
  /** A JSON number: its text. */
  Number,
  /** true / false: `t` / `f`. */
  Boolean,
  /** A base64 string: `\\x` and hex, the base64 checked as wireToPgText checks it (copyBase64). */
  Binary,
  /** Not written (a generated column): a string, number, boolean or null, passed over. */
  Skip,
}

export interface CopyLinePlan {
  /** Per column: the bytes `"name":` that must open its member (`{` or `,` before them). */
  readonly keys: readonly Buffer[]
  readonly modes: readonly Mode[]
}

/**
 * The plan for columns of these kinds (the backup's, equal to the target's), or undefined when a
 * kind has no byte-for-byte rewrite (arrays, documents, unknown): such tables take the ordinary path.
 */
export function copyLinePlan(columns: readonly { readonly name: string; readonly kind: ValueKind | 'skip' }[]): CopyLinePlan | undefined {
  const modes: Mode[] = []
  for (const column of columns) {
    switch (column.kind) {
      case 'skip':
        modes.push(Mode.Skip)
        break
      case 'integer':
        modes.push(Mode.Number)
        break
      case 'float':
        modes.push(Mode.NumberOrString)
        break
      case 'boolean':
        modes.push(Mode.Boolean)
        break
      case 'binary':
        modes.push(Mode.Binary)
        break
      case 'array':
      case 'document':
      case 'unknown':
        return undefined
      default:
        modes.push(Mode.String)
    }
  }
  return { keys: columns.map((c) => Buffer.from(`${JSON.stringify(c.name)}:`)), modes }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const OPEN = 0x7b
const CLOSE = 0x7d
const TAB = 0x09
const LF = 0x0a
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
 * Writes the base64 text [start, end) of `line` at `at` of `out` as the COPY text of its bytes
 * (`\\x` and lowercase hex: what escapeCopyText of wireToPgText's `\x…` gives), in one walk, no
 * string made; returns where the text ends, or -1 for a text wireToPgText refuses (its BASE64
 * pattern: groups of four characters, the last one possibly `xx==` or `xxx=`). The bits a
 * padded group leaves over are dropped, as Buffer.from(…, 'base64') drops them.
 */
function copyBase64(line: Buffer, start: number, end: number, out: Buffer, at: number): number {
  if ((end - start) % 4 !== 0) return -1
  out[at++] = BACKSLASH
  out[at++] = BACKSLASH
  out[at++] = 0x78 // x
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

/** A growable output buffer of COPY text. */
export class CopyOutput {
  #buffer: Buffer
  #length = 0

  constructor(capacity = 1 << 20) {
    this.#buffer = Buffer.allocUnsafe(capacity)
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

  /** For lineToCopy: the buffer and position to write at (room reserved by the caller). */
  get buffer(): Buffer {
    return this.#buffer
  }

  set position(at: number) {
    this.#length = at
  }
}

/**
 * Appends the COPY text line (with its newline) of the record line `line[start, end)` to `out`
 * and returns true; or returns false, writing nothing, when the line is not exactly as the plan
 * expects (module comment).
 *
 * When it returns true the bytes are one JSON object exactly as JSON.parse accepts it (given
 * valid UTF-8, which the reader checks), whose fields are the plan's columns, each once, in
 * order: every value's grammar is checked on the way (numbers to JSON's grammar, strings'
 * escapes and control characters, the literals). So the reader may take this walk for the
 * check record-scan.ts's scanRecord makes (one walk over the line instead of two; round ten
 * of docs/performance.md): with `keyPlace` (per column, its place in the primary key or -1) the
 * bounds of the key values are left in `keyBounds` (start and end, two per key column).
 */
export function lineToCopy(line: Buffer, start: number, end: number, plan: CopyLinePlan, out: CopyOutput, keyPlace?: Int32Array, keyBounds?: Int32Array): boolean {
  // Escapes only shrink or keep their length, a field name (4 bytes or more) becomes a tab, binary
  // grows to 1.5 × + 3 per value: this bounds the output. A looser bound (2 ×) made most
  // chunks' output buffer grow, a new buffer and a copy, at their last lines.
  out.reserve((end - start) + ((end - start) >> 1) + 8 * plan.modes.length + 8)
  keyColumn = -1
  const buffer = out.buffer
  const mark = out.length
  let at = mark
  let p = start
  if (line[p] !== OPEN) return false
  p++
  const { keys, modes } = plan
  let written = 0
  for (let i = 0; i < modes.length; i++) {
    if (i > 0) {
      if (line[p] !== COMMA) return false
      p++
    }
    const mode = modes[i]
    const skipped = mode === Mode.Skip
    const columnStart = at
    if (!skipped && written++ > 0) buffer[at++] = TAB
    const key = keys[i]!
    if (!startsWith(line, p, end, key)) return false
    p += key.length
    if (keyBounds !== undefined) {
      const place = keyPlace![i]!
      if (place !== -1) {
        keyBounds[2 * place] = p
        // The value's end, once it is known (after this column's value, below).
        keyBounds[2 * place + 1] = -1
        keyColumn = place
      } else keyColumn = -1
    }
    const first = line[p]
    if (first === 0x6e) {
      // null
      if (line[p + 1] !== 0x75 || line[p + 2] !== 0x6c || line[p + 3] !== 0x6c) return false
      p += 4
      if (!skipped) {
        buffer[at++] = BACKSLASH
        buffer[at++] = 0x4e // N
      }
      if (keyColumn !== -1) keyBounds![2 * keyColumn + 1] = p
      continue
    }
    if (skipped) {
      // Passed over by writing it as if it were a string or a number, then taking it back.
      if (first === QUOTE) {
        p = copyString(line, p + 1, end, buffer, at)
        if (p === -1) return false
      } else if (first === 0x74 && line[p + 1] === 0x72 && line[p + 2] === 0x75 && line[p + 3] === 0x65) p += 4
      else if (first === 0x66 && line[p + 1] === 0x61 && line[p + 2] === 0x6c && line[p + 3] === 0x73 && line[p + 4] === 0x65) p += 5
      else {
        p = numberEnd(line, p, end)
        if (p === -1) return false
      }
      at = columnStart
      if (keyColumn !== -1) keyBounds![2 * keyColumn + 1] = p
      continue
    }
    if (first === QUOTE) {
      if (mode === Mode.Number || mode === Mode.Boolean) return false
      if (mode === Mode.Binary) {
        const close = line.indexOf(QUOTE, p + 1)
        if (close === -1 || close >= end) return false
        at = copyBase64(line, p + 1, close, buffer, at)
        if (at === -1) return false
        p = close + 1
        if (keyColumn !== -1) keyBounds![2 * keyColumn + 1] = p
        continue
      }
      p = copyString(line, p + 1, end, buffer, at)
      if (p === -1) return false
      at = copiedTo
      if (keyColumn !== -1) keyBounds![2 * keyColumn + 1] = p
      continue
    }
    if (mode === Mode.Boolean) {
      if (first === 0x74 && line[p + 1] === 0x72 && line[p + 2] === 0x75 && line[p + 3] === 0x65) {
        buffer[at++] = 0x74 // t
        p += 4
      } else if (first === 0x66 && line[p + 1] === 0x61 && line[p + 2] === 0x6c && line[p + 3] === 0x73 && line[p + 4] === 0x65) {
        buffer[at++] = 0x66 // f
        p += 5
      } else return false
      if (keyColumn !== -1) keyBounds![2 * keyColumn + 1] = p
      continue
    }
    if (mode === Mode.String || mode === Mode.Binary) return false
    // A number, to JSON's grammar. JSON.stringify wrote it, so its text is what String() gives.
    const numberStart = p
    p = numberEnd(line, p, end)
    if (p === -1) return false
    for (let k = numberStart; k < p; k++) buffer[at++] = line[k]!
    if (keyColumn !== -1) keyBounds![2 * keyColumn + 1] = p
  }
  if (line[p] !== CLOSE || p + 1 !== end) return false
  buffer[at++] = LF
  out.position = at
  return true
}

/** Where copyString's output ended (a module variable, not a returned object: no allocation per value). */
let copiedTo = 0

/**
 * Plain runs at least this long are copied with Buffer.copy; shorter ones byte by byte. Node 20's
 * Buffer.copy makes a Uint8Array view for every call with an offset, which for the short values
 * of most columns cost more (in the garbage collector) than the bytes (docs/performance.md,
 * "Round nine: PostgreSQL restore CPU").
 */
const NATIVE_COPY_BYTES = 64

/**
 * Copies the JSON string whose characters start at `p` (after its opening quote) as COPY text,
 * up to its closing quote. Returns the position after it, with the output's end in `copiedTo`;
 * or -1 for what COPY text cannot hold or JSON.parse would refuse (`\u0000`, lone surrogates,
 * raw control characters).
 */
function copyString(line: Buffer, p: number, end: number, out: Buffer, at: number): number {
  for (;;) {
    // Runs of plain bytes: everything but the quote, the backslash and control characters.
    let run = p
    while (run < end) {
      const c = line[run]!
      if (c === QUOTE || c === BACKSLASH || c < 0x20) break
      run++
    }
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
        if (code === 0) return -1
        at = putCodePoint(code, out, at)
        break
      }
      default:
        return -1
    }
  }
}

/** Whether `line[p, end)` starts with the bytes of `key` (compared here: Buffer.compare with offsets allocates). */
function startsWith(line: Buffer, p: number, end: number, key: Buffer): boolean {
  const length = key.length
  if (p + length > end) return false
  for (let i = 0; i < length; i++) if (line[p + i] !== key[i]) return false
  return true
}

/** The key column (its place in the key) whose value lineToCopy is reading, or -1 (a module variable: lineToCopy allocates nothing per line). */
let keyColumn = -1

/** The index after the JSON number that starts at `i` (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?); -1 if none does. */
function numberEnd(line: Buffer, i: number, end: number): number {
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

/** Writes a code point as UTF-8, with COPY's escapes for the characters COPY treats specially. */
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
