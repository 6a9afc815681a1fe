/**
 * The checks a verifying pass makes on a record line it does not need parsed (issue #13 checks,
 * issue #17 round four: docs/performance.md), made on the bytes: the line is one JSON object as
 * JSON.parse would accept it, its field names are all columns of the table, and its primary key
 * values are read. JSON.parse of every line built every record only to drop it, with the
 * garbage that makes: the largest file-side cost of a digest analyze.
 *
 * The scan only ever says "the same as JSON.parse would" or "ask JSON.parse": on anything
 * unusual (text JSON.parse refuses, a field that is not a column, an escape in a field name) it
 * answers undefined and the reader parses the line as before, so every error is still reported
 * by the one path that reports it (record-scan.test.ts checks the equivalence as a property).
 *
 * @module
 */

import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, OPEN_BRACE, OPEN_BRACKET, QUOTE, skipSpace } from './json-bytes.js'

/** What scanRecord checks a table's records against, made once per table. */
export interface RecordShape {
  /** The column names as UTF-8 bytes (a field must be one of them); undefined: any field. */
  readonly columns: readonly Buffer[] | undefined
  /** Per column: its place in the primary key, or -1. */
  readonly keyPlace: Int32Array
  /** The primary key's column names as UTF-8 bytes. */
  readonly key: readonly Buffer[]
  /** scanRecord's working memory: where each key value starts and ends (two per key column), reused from record to record. */
  readonly keyBounds: Int32Array
}

export function recordShape(columns: readonly string[] | undefined, primaryKey: readonly string[]): RecordShape {
  return {
    columns: columns?.map((name) => Buffer.from(name)),
    keyPlace: Int32Array.from(columns ?? [], (name) => primaryKey.indexOf(name)),
    key: primaryKey.map((name) => Buffer.from(name)),
    keyBounds: new Int32Array(2 * primaryKey.length),
  }
}

/**
 * Scans bytes [start, end) of a record line (valid UTF-8, checked by the caller). Returns the
 * values of the primary key fields, in key order (undefined for a field the record lacks; the
 * last one where a field comes twice, as JSON.parse keeps), when the bytes are exactly one JSON
 * object whose fields are all columns of `shape` and which nests arrays and objects no deeper
 * than `room` levels (the record's own braces are the first; empty ones count, as the reader's
 * nestingExceeds counts them); otherwise undefined. A record deeper than `room` is given up at
 * that depth, so a line of a million `[` costs no more than `room` levels of work. A line the
 * scan answers for needs no nesting check of its own (reader.ts). Field names are compared
 * as bytes (no string is made for them): fields usually come in column order, so the column
 * after the last one found is tried first.
 */
export function scanRecord(buffer: Buffer, start: number, end: number, shape: RecordShape, room: number = Number.POSITIVE_INFINITY): unknown[] | undefined {
  let i = skipSpace(buffer, start, end)
  if (i >= end || buffer[i] !== OPEN_BRACE || room < 1) return undefined
  const bounds = shape.keyBounds
  bounds.fill(-1)
  let hint = 0
  i = skipSpace(buffer, i + 1, end)
  if (i >= end) return undefined
  if (buffer[i] !== CLOSE_BRACE) {
    for (;;) {
      if (i >= end || buffer[i] !== QUOTE) return undefined
      const nameEnd = stringEnd(buffer, i, end)
      if (nameEnd === -1) return undefined
      // An escaped name is rare: JSON.parse decodes it (and reports it if it is no column).
      for (let at = i + 1; at < nameEnd - 1; at++) if (buffer[at] === BACKSLASH) return undefined
      let place: number
      if (shape.columns !== undefined) {
        const column = findName(buffer, i + 1, nameEnd - 1, shape.columns, hint)
        if (column === -1) return undefined
        hint = column + 1
        place = shape.keyPlace[column]!
      } else place = findName(buffer, i + 1, nameEnd - 1, shape.key, 0)
      i = skipSpace(buffer, nameEnd, end)
      if (i >= end || buffer[i] !== COLON) return undefined
      const valueStart = skipSpace(buffer, i + 1, end)
      const afterValue = valueEnd(buffer, valueStart, end, room - 1)
      if (afterValue === -1) return undefined
      if (place !== -1) {
        bounds[2 * place] = valueStart
        bounds[2 * place + 1] = afterValue
      }
      i = skipSpace(buffer, afterValue, end)
      if (i < end && buffer[i] === CLOSE_BRACE) break
      if (i >= end || buffer[i] !== COMMA) return undefined
      i = skipSpace(buffer, i + 1, end)
    }
  }
  if (skipSpace(buffer, i + 1, end) !== end) return undefined
  return keyValues(buffer, shape)
}

/**
 * The key values whose bounds `shape.keyBounds` holds (-1: the record lacks the field), in key
 * order, as JSON.parse reads them: scanRecord's answer, or that of a walk of the line that made
 * the same checks (LineConverter.convertChecked, reader.ts).
 */
export function keyValues(buffer: Buffer, shape: RecordShape): unknown[] {
  const bounds = shape.keyBounds
  const key = new Array<unknown>(shape.key.length)
  for (let k = 0; k < key.length; k++) key[k] = bounds[2 * k] === -1 ? undefined : keyValue(buffer, bounds[2 * k]!, bounds[2 * k + 1]!)
  return key
}

/** The index in `names` of the name whose bytes are [start, end), trying `hint` first; -1 if none. */
function findName(buffer: Buffer, start: number, end: number, names: readonly Buffer[], hint: number): number {
  const length = end - start
  for (let n = 0; n < names.length; n++) {
    const at = (hint + n) % names.length
    const name = names[at]!
    if (name.length !== length) continue
    let k = 0
    while (k < length && name[k] === buffer[start + k]) k++
    if (k === length) return at
  }
  return -1
}

/** JSON.parse of a checked value: a whole number of up to 15 digits straight from its bytes, a string without escapes as its text. */
function keyValue(buffer: Buffer, start: number, end: number): unknown {
  const negative = buffer[start] === 0x2d
  const from = negative ? start + 1 : start
  if (end - from <= 15) {
    let n = 0
    let at = from
    for (; at < end; at++) {
      const c = buffer[at]!
      if (c < 0x30 || c > 0x39) break
      n = n * 10 + (c - 0x30)
    }
    if (at === end && at > from) return negative ? -n : n
  }
  if (buffer[start] === QUOTE) {
    let at = start + 1
    while (at < end - 1 && buffer[at] !== BACKSLASH) at++
    if (at === end - 1) return buffer.toString('utf8', start + 1, end - 1)
  }
  return JSON.parse(buffer.toString('utf8', start, end)) as unknown
}

/** The index after the JSON string whose opening quote is at `i`, checked as JSON.parse checks it; -1 if it is not one. */
function stringEnd(buffer: Buffer, i: number, end: number): number {
  i++
  while (i < end) {
    // Plain text, the bulk of a line, in one tight loop.
    while (i < end && PLAIN[buffer[i]!] === 1) i++
    if (i >= end) return -1
    const c = buffer[i]!
    if (c === QUOTE) return i + 1
    if (c === BACKSLASH) {
      const next = buffer[i + 1]
      if (next === 0x75) {
        // \uXXXX
        if (i + 6 > end) return -1
        for (let h = i + 2; h < i + 6; h++) if (!isHex(buffer[h]!)) return -1
        i += 6
        continue
      }
      // \" \\ \/ \b \f \n \r \t
      if (next === QUOTE || next === BACKSLASH || next === 0x2f || next === 0x62 || next === 0x66 || next === 0x6e || next === 0x72 || next === 0x74) {
        i += 2
        continue
      }
      return -1
    }
    if (c < 0x20) return -1
    i++
  }
  return -1
}

/** Bytes that may stand in a JSON string as they are: not a quote, a backslash or a control character. */
const PLAIN = Uint8Array.from({ length: 256 }, (_, c) => (c === QUOTE || c === BACKSLASH || c < 0x20 ? 0 : 1))

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}

/**
 * What valueEnd has open: 1 an object, 0 an array, one byte a level (module-wide: the scan is
 * synchronous and never re-entered). Grown as needed, never past the deepest room asked for.
 */
let openKinds = new Uint8Array(64)

/**
 * The index after the JSON value that starts at `i`, checked as JSON.parse checks it; -1 if it is
 * not one, or if it nests arrays and objects deeper than `room` levels (an empty one counts).
 * Nested arrays and objects are followed with a stack of their kinds, not recursion.
 */
function valueEnd(buffer: Buffer, i: number, end: number, room: number): number {
  let depth = 0
  for (;;) {
    // A value starts at i.
    if (i >= end) return -1
    const c = buffer[i]!
    if (c === QUOTE) {
      i = stringEnd(buffer, i, end)
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const isObject = c === OPEN_BRACE
      if (depth >= room) return -1
      i = skipSpace(buffer, i + 1, end)
      if (i < end && buffer[i] === (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        i++
      } else {
        if (depth === openKinds.length) {
          const grown = new Uint8Array(2 * depth)
          grown.set(openKinds)
          openKinds = grown
        }
        openKinds[depth++] = isObject ? 1 : 0
        if (isObject) {
          i = member(buffer, i, end)
          if (i === -1) return -1
        }
        continue
      }
    } else if (c === 0x74) i = literal(buffer, i, end, 'true')
    else if (c === 0x66) i = literal(buffer, i, end, 'false')
    else if (c === 0x6e) i = literal(buffer, i, end, 'null')
    else i = numberEnd(buffer, i, end)
    if (i === -1) return -1
    // After a value: close what ends here, or move on to the next element or member.
    for (;;) {
      if (depth === 0) return i
      i = skipSpace(buffer, i, end)
      if (i >= end) return -1
      const isObject = openKinds[depth - 1] === 1
      const d = buffer[i]!
      if (d === COMMA) {
        i = skipSpace(buffer, i + 1, end)
        if (isObject) {
          i = member(buffer, i, end)
          if (i === -1) return -1
        }
        break
      }
      if (d !== (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) return -1
      depth--
      i++
    }
  }
}

/** `"name" :` of an object member starting at `i`: the index of its value; -1 if it is not one. */
function member(buffer: Buffer, i: number, end: number): number {
  if (i >= end || buffer[i] !== QUOTE) return -1
  i = stringEnd(buffer, i, end)
  if (i === -1) return -1
  i = skipSpace(buffer, i, end)
  if (i >= end || buffer[i] !== COLON) return -1
  return skipSpace(buffer, i + 1, end)
}

function literal(buffer: Buffer, i: number, end: number, text: string): number {
  if (i + text.length > end) return -1
  for (let k = 0; k < text.length; k++) if (buffer[i + k] !== text.charCodeAt(k)) return -1
  return i + text.length
}

/** JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
function numberEnd(buffer: Buffer, i: number, end: number): number {
  if (i < end && buffer[i] === 0x2d) i++
  if (i < end && buffer[i] === 0x30) i++
  else if (isDigit(buffer, i, end)) while (isDigit(buffer, i, end)) i++
  else return -1
  if (i < end && buffer[i] === 0x2e) {
    i++
    if (!isDigit(buffer, i, end)) return -1
    while (isDigit(buffer, i, end)) i++
  }
  if (i < end && (buffer[i] === 0x65 || buffer[i] === 0x45)) {
    i++
    if (i < end && (buffer[i] === 0x2b || buffer[i] === 0x2d)) i++
    if (!isDigit(buffer, i, end)) return -1
    while (isDigit(buffer, i, end)) i++
  }
  return i
}

function isDigit(buffer: Buffer, at: number, end: number): boolean {
  return at < end && buffer[at]! >= 0x30 && buffer[at]! <= 0x39
}
