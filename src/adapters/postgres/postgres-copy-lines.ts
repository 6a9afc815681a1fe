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
import { BACKSLASH, LF, QUOTE, TAB, TextOutput, base64Hex, copiedTo, copyString, numberEnd, startsWith } from '../json-line-text.js'

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
  /** A base64 string: `\\x` and hex, the base64 checked as wireToPgText checks it (base64Hex: groups of four, the last one possibly padded). */
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

const COMMA = 0x2c
const OPEN = 0x7b
const CLOSE = 0x7d

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
export function lineToCopy(line: Buffer, start: number, end: number, plan: CopyLinePlan, out: TextOutput, keyPlace?: Int32Array, keyBounds?: Int32Array): boolean {
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
        // What escapeCopyText of wireToPgText's `\x…` gives: `\\x` and lowercase hex.
        buffer[at++] = BACKSLASH
        buffer[at++] = BACKSLASH
        buffer[at++] = 0x78 // x
        at = base64Hex(line, p + 1, close, buffer, at, false)
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

/** The key column (its place in the key) whose value lineToCopy is reading, or -1 (a module variable: lineToCopy allocates nothing per line). */
let keyColumn = -1
