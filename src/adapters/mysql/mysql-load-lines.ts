/**
 * Record lines → LOAD DATA text, without parsing them into objects: the MariaDB/MySQL restore's
 * fast path (MysqlDestination.lineConverter, which the reader runs in the walk that checks each
 * line; docs/performance.md, "Round twelve: MariaDB restore through a line converter").
 *
 * A record line as mergeback writes it is `{"col1":value,…}`, the columns in order, no
 * whitespace. For the kinds below, the LOAD DATA field LoadChannel writes for a value
 * (ValueWriter.field, then loadDataField's escapes) is the value's own text, rewritten byte by
 * byte: JSON string escapes become characters, and backslash, tab, newline, carriage return and
 * NUL get LOAD DATA's backslash escapes; base64 becomes hex (the column is loaded through UNHEX);
 * a timestamp's `T` becomes a space and its `Z` goes.
 *
 * The rewrite is exact or it does not happen. A line spelled any other way (another key order, a
 * missing column, a value the column's writer would rewrite or refuse: an integer beyond 2^53 as
 * a number, a decimal with an exponent or more places than the scale, a timestamp with a zone,
 * non-canonical base64, a lone surrogate) makes `lineToLoad` return false, and the caller takes
 * that line the ordinary way (JSON.parse, ValueWriter), which gives the ordinary bytes or errors.
 * Columns whose writer has no byte-for-byte rewrite (FLOAT, DOUBLE, YEAR, bytes or JSON read from
 * another kind) give no plan: their tables take the ordinary path. mysql-load-lines.test.ts
 * checks that both paths give the same bytes.
 *
 * @module
 */
import type { ValueKind } from '../adapter.js'
import type { LineConverter } from '../../format/reader.js'
import { BACKSLASH, LF, QUOTE, TAB, TextOutput, base64Hex, copiedTo, copyString, numberEnd, startsWith } from '../json-line-text.js'
import { decimalScale, typeClassOf, typeLength, type TargetColumn } from './mysql-values.js'

/** How one column's value is rewritten; every mode takes `null` as `\N`. */
const enum Mode {
  /** A JSON integer of at most 15 digits (String() gives its text back), a string of digits, or true / false as 1 / 0. */
  Integer,
  /** A string `[+-]digits[.digits]` with at most the column's scale of places, or true / false as 1 / 0. */
  Decimal,
  /** A string `YYYY-MM-DD`. */
  Date,
  /** A string `YYYY-MM-DDTHH:MM:SS[.f…]` (at most the column's precision of digits), `Z` or not: `T` becomes a space. */
  DateTime,
  /** A string `[-]H…:MM[:SS[.f…]]` with at most the column's precision of fraction digits. */
  Time,
  /** A string of 0s and 1s, or true / false as 1 / 0 (the column is loaded through CONV). */
  Bits,
  /** A canonical base64 string, as hex (the column is loaded through UNHEX). */
  Hex,
  /** A string: its characters, escaped (text, ENUM, SET, JSON from a JSON column). */
  String,
}

export interface LoadLinePlan {
  /** Per column: the bytes `"name":` that must open its member (`{` or `,` before them). */
  readonly keys: readonly Buffer[]
  readonly modes: readonly Mode[]
  /** Per column: the decimal scale, or the fraction digits of a DATETIME, TIMESTAMP or TIME. */
  readonly digits: Int32Array
}

/** One written column: the backup's column (its name and kind) and the target column it is loaded into. */
export interface LoadLineColumn {
  readonly name: string
  readonly kind: ValueKind
  readonly target: TargetColumn
}

/**
 * The plan for these columns (every column LoadChannel writes, in its order), or undefined when a
 * column's writer has no byte-for-byte rewrite (module comment).
 */
export function loadLinePlan(columns: readonly LoadLineColumn[]): LoadLinePlan | undefined {
  const modes: Mode[] = []
  const digits = new Int32Array(columns.length)
  for (const [i, { kind, target }] of columns.entries()) {
    const mode = modeOf(target.type, kind)
    if (mode === undefined) return undefined
    modes.push(mode)
    if (mode === Mode.Decimal) digits[i] = decimalScale(target.type)
    else if (mode === Mode.DateTime || mode === Mode.Time) digits[i] = typeLength(target.type) ?? 0
  }
  return { keys: columns.map((c) => Buffer.from(`${JSON.stringify(c.name)}:`)), modes, digits }
}

/** The mode of valueWriter(target, kind)'s field, where it has one. */
function modeOf(type: string, kind: ValueKind): Mode | undefined {
  switch (typeClassOf(type)) {
    case 'integer':
    case 'bigint':
      return Mode.Integer
    case 'decimal':
      return Mode.Decimal
    case 'date':
      return Mode.Date
    case 'datetime':
    case 'timestamp':
      return Mode.DateTime
    case 'time':
      return Mode.Time
    case 'bit':
      return Mode.Bits
    case 'binary':
    case 'geometry':
      // Bytes read from a character column are that text's UTF-8, not base64.
      return kind === 'binary' || kind === 'unknown' ? Mode.Hex : undefined
    case 'json':
      // Strings of other kinds are JSON only when they parse as JSON (jsonValueText).
      return kind === 'json' ? Mode.String : undefined
    case 'text':
    case 'enum':
    case 'set':
    case 'other':
      return Mode.String
    default:
      return undefined
  }
}

const COMMA = 0x2c
const OPEN = 0x7b
const CLOSE = 0x7d
const ZERO = 0x30
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const COLON = 0x3a

/**
 * Appends the LOAD DATA line (with its newline) of the record line `line[start, end)` to `out`
 * and returns true; or returns false, writing nothing, when the line is not exactly as the plan
 * expects (module comment).
 *
 * When it returns true the bytes are one JSON object exactly as JSON.parse accepts it (given
 * valid UTF-8, which the reader checks), whose fields are the plan's columns, each once, in
 * order, so the reader may take this walk for its own check of the line (reader.ts,
 * LineConverter): with `keyPlace` (per column, its place in the primary key or -1) the bounds of
 * the key values are left in `keyBounds` (start and end, two per key column).
 */
export function lineToLoad(line: Buffer, start: number, end: number, plan: LoadLinePlan, out: TextOutput, keyPlace?: Int32Array, keyBounds?: Int32Array): boolean {
  // Escapes only shrink or keep their length, a field name (4 bytes or more) becomes a tab, hex is
  // 1.5 × its base64: this bounds the output.
  out.reserve(end - start + ((end - start) >> 1) + 8 * plan.modes.length + 8)
  const buffer = out.buffer
  let at = out.length
  let p = start
  if (line[p] !== OPEN) return false
  p++
  const { keys, modes, digits } = plan
  for (let i = 0; i < modes.length; i++) {
    if (i > 0) {
      if (line[p] !== COMMA) return false
      p++
      buffer[at++] = TAB
    }
    const key = keys[i]!
    if (!startsWith(line, p, end, key)) return false
    p += key.length
    const valueStart = p
    const first = line[p]
    if (first === 0x6e) {
      // null
      if (line[p + 1] !== 0x75 || line[p + 2] !== 0x6c || line[p + 3] !== 0x6c) return false
      p += 4
      buffer[at++] = BACKSLASH
      buffer[at++] = 0x4e // N
    } else if (first === QUOTE) {
      const mode = modes[i]!
      if (mode === Mode.String) {
        p = copyString(line, p + 1, end, buffer, at, true)
        if (p === -1) return false
        at = copiedTo
      } else {
        // The other modes' strings hold no escapes: their closing quote is the next one.
        const close = line.indexOf(QUOTE, p + 1)
        if (close === -1 || close >= end) return false
        at = mode === Mode.Hex ? base64Hex(line, p + 1, close, buffer, at, true) : copyPlain(line, p + 1, close, mode, digits[i]!, buffer, at)
        if (at === -1) return false
        p = close + 1
      }
    } else {
      p = copyLiteral(line, p, end, modes[i]!, buffer, at)
      if (p === -1) return false
      at = literalEnd
    }
    if (keyBounds !== undefined && keyPlace![i]! !== -1) {
      const place = keyPlace![i]!
      keyBounds[2 * place] = valueStart
      keyBounds[2 * place + 1] = p
    }
  }
  if (line[p] !== CLOSE || p + 1 !== end) return false
  buffer[at++] = LF
  out.position = at
  return true
}

/** Where copyLiteral's output ended (a module variable: no allocation per value). */
let literalEnd = 0

/**
 * A value that is not a string or null, at `p`: true / false (1 / 0) where the mode takes them,
 * an integer number where it is one. Returns the position after it, its output's end in
 * `literalEnd`; or -1.
 */
function copyLiteral(line: Buffer, p: number, end: number, mode: Mode, out: Buffer, at: number): number {
  const first = line[p]
  if (first === 0x74 || first === 0x66) {
    if (mode !== Mode.Integer && mode !== Mode.Decimal && mode !== Mode.Bits) return -1
    if (first === 0x74 && line[p + 1] === 0x72 && line[p + 2] === 0x75 && line[p + 3] === 0x65) {
      out[at] = 0x31 // 1
      p += 4
    } else if (first === 0x66 && line[p + 1] === 0x61 && line[p + 2] === 0x6c && line[p + 3] === 0x73 && line[p + 4] === 0x65) {
      out[at] = ZERO
      p += 5
    } else return -1
    literalEnd = at + 1
    return p
  }
  if (mode !== Mode.Integer) return -1
  // A safe integer's text is what String() gives back; `-0` (String: "0"), fractions and
  // exponents are left to integerText.
  const numberStart = p
  const after = numberEnd(line, p, end)
  const sign = first === MINUS ? 1 : 0
  if (after === -1 || after - numberStart - sign > 15) return -1
  for (let k = numberStart + sign; k < after; k++) if (line[k]! < ZERO || line[k]! > 0x39) return -1
  if (sign === 1 && line[numberStart + 1] === ZERO) return -1
  for (let k = numberStart; k < after; k++) out[at++] = line[k]!
  literalEnd = at
  return after
}

/**
 * The text of a string value [start, end) for the modes whose text has no escapes (Integer,
 * Decimal, Date, DateTime, Time, Bits): checked as the column's writer would take it unchanged,
 * written at `at`. Returns the output's end, or -1.
 */
function copyPlain(line: Buffer, start: number, end: number, mode: Mode, digits: number, out: Buffer, at: number): number {
  switch (mode) {
    case Mode.Integer: {
      // integerText: /^[+-]?\d+$/ passes as it is.
      const from = line[start] === MINUS || line[start] === PLUS ? start + 1 : start
      if (!allDigits(line, from, end)) return -1
      return copyBytes(line, start, end, out, at)
    }
    case Mode.Decimal: {
      // decimalText: plain decimal text without exponent passes as it is, up to the scale.
      const from = line[start] === MINUS || line[start] === PLUS ? start + 1 : start
      const dot = line.indexOf(DOT, from)
      const whole = dot === -1 || dot >= end ? end : dot
      if (!allDigits(line, from, whole)) return -1
      if (whole < end && (!allDigits(line, whole + 1, end) || end - whole - 1 > digits)) return -1
      return copyBytes(line, start, end, out, at)
    }
    case Mode.Date:
      // dateText: DATE_TEXT passes as it is.
      if (end - start !== 10 || !isDate(line, start)) return -1
      return copyBytes(line, start, end, out, at)
    case Mode.DateTime: {
      // dateTimeText's PLAIN_TIMESTAMP, `YYYY-MM-DDTHH:MM:SS[.ffffff][Z]`, with at most `digits` fraction digits.
      const stop = line[end - 1] === 0x5a ? end - 1 : end // Z
      if (stop - start < 19 || !isDate(line, start) || line[start + 10] !== 0x54 || !isClock(line, start + 11)) return -1
      if (stop - start > 19) {
        const fraction = stop - start - 20
        if (line[start + 19] !== DOT || fraction < 1 || fraction > 6 || fraction > digits || !allDigits(line, start + 20, stop)) return -1
      }
      at = copyBytes(line, start, start + 10, out, at)
      out[at++] = 0x20
      return copyBytes(line, start + 11, stop, out, at)
    }
    case Mode.Time: {
      // timeText: `-?\d{1,3}:\d{2}(:\d{2}(\.\d+)?)?` passes as it is when the fraction fits.
      let p = line[start] === MINUS ? start + 1 : start
      const colon = line.indexOf(COLON, p)
      if (colon === -1 || colon >= end || colon - p < 1 || colon - p > 3 || !allDigits(line, p, colon)) return -1
      p = colon + 1
      if (end - p < 2 || !allDigits(line, p, p + 2)) return -1
      p += 2
      if (p < end) {
        if (line[p] !== COLON || end - p < 3 || !allDigits(line, p + 1, p + 3)) return -1
        p += 3
        if (p < end && (line[p] !== DOT || end - p - 1 < 1 || end - p - 1 > digits || !allDigits(line, p + 1, end))) return -1
      }
      return copyBytes(line, start, end, out, at)
    }
    case Mode.Bits:
      // bitText: /^[01]+$/ passes as it is.
      if (end === start) return -1
      for (let k = start; k < end; k++) if (line[k] !== ZERO && line[k] !== 0x31) return -1
      return copyBytes(line, start, end, out, at)
    default:
      return -1
  }
}

/** Whether [start, end) is one or more ASCII digits. */
function allDigits(line: Buffer, start: number, end: number): boolean {
  if (end <= start) return false
  for (let k = start; k < end; k++) if (line[k]! < ZERO || line[k]! > 0x39) return false
  return true
}

/** `YYYY-MM-DD` at `p`. */
function isDate(line: Buffer, p: number): boolean {
  return allDigits(line, p, p + 4) && line[p + 4] === MINUS && allDigits(line, p + 5, p + 7) && line[p + 7] === MINUS && allDigits(line, p + 8, p + 10)
}

/** `HH:MM:SS` at `p`. */
function isClock(line: Buffer, p: number): boolean {
  return allDigits(line, p, p + 2) && line[p + 2] === COLON && allDigits(line, p + 3, p + 5) && line[p + 5] === COLON && allDigits(line, p + 6, p + 8)
}

function copyBytes(line: Buffer, start: number, end: number, out: Buffer, at: number): number {
  for (let k = start; k < end; k++) out[at++] = line[k]!
  return at
}

/**
 * Marks a record line passed on unconverted among LOAD DATA lines (the line follows it):
 * neither LOAD DATA text (which writes NUL as `\0`) nor JSON holds this byte raw.
 */
export const PASSED_ON = 0x00

/**
 * The reader's converter of a table's record lines into LOAD DATA lines (LineConverter): each
 * line rewritten by lineToLoad in the walk that checks it; a line the walk refuses is checked the
 * reader's way and passed on, marked with PASSED_ON, for the destination to take through
 * writeRows' path (its values through the column writers, or INSERT for a line that leaves a
 * column out), which gives exactly today's bytes and errors.
 */
export function loadLineConverter(plan: LoadLinePlan): LineConverter {
  let out: TextOutput | undefined
  // A batch of lines is cut once it passes 1 MiB (reader.ts); its LOAD DATA text is about as long.
  const output = (): TextOutput => (out ??= new TextOutput((1 << 20) + (1 << 18)))
  return {
    convertChecked(buffer, start, end, shape) {
      shape.keyBounds.fill(-1)
      return lineToLoad(buffer, start, end, plan, output(), shape.keyPlace, shape.keyBounds)
    },
    convert(line) {
      const into = output()
      if (lineToLoad(line, 0, line.length, plan, into)) return
      into.reserve(line.length + 2)
      const at = into.length
      into.buffer[at] = PASSED_ON
      line.copy(into.buffer, at + 1)
      into.buffer[at + 1 + line.length] = LF
      into.position = at + line.length + 2
    },
    take() {
      const text = output().finish()
      out = undefined
      return text
    },
  }
}
