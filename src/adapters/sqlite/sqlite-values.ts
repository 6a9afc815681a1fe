/**
 * SQLite values ⇄ wire encoding, and what a declared column type means.
 *
 * SQLite is dynamically typed: a column's declared type only gives it an *affinity* (INTEGER,
 * TEXT, BLOB, REAL or NUMERIC, by the rules of https://sqlite.org/datatype3.html §3.1), and every
 * value has its own *storage class* (NULL, INTEGER, REAL, TEXT or BLOB). Affinity converts a value
 * when it is stored (the text '12' becomes the integer 12 in an INTEGER column) and is idempotent,
 * so which storage classes a column can hold depends on its affinity.
 *
 * Kind of a column (`kindOf`), from its declared type:
 *   INTEGER affinity (the name contains INT)            → bigint  (SQLite integers are 64-bit, so
 *                                                          never 'integer': a JSON number would
 *                                                          lose values beyond 2^53)
 *   REAL affinity (REAL, FLOA, DOUB)                    → float
 *   TEXT affinity (CHAR, CLOB, TEXT)                    → text
 *   BLOB affinity with a declared BLOB                  → binary
 *   no declared type ("untyped", BLOB affinity)         → unknown
 *   NUMERIC affinity: BOOL…                             → boolean (stored 0/1)
 *                     NUMERIC, DECIMAL, NUMBER, MONEY   → decimal
 *                     JSON…                             → json
 *                     anything else (DATE, DATETIME,    → text: SQLite has no date type, so the
 *                     TIMESTAMP, UUID, STRING, …)          stored value is kept exactly as stored
 *
 * Encoding (`encodeValue`, Source side). A value whose storage class is the one its kind expects
 * is written in the kind's ordinary wire encoding. Besides, numbers in text/json columns (an
 * integer in a DATETIME column, as several ORMs store epoch milliseconds) are written as their
 * decimal text: a NUMERIC-affinity column cannot hold numeric-looking text, so on restore the
 * text unambiguously becomes that number again. Every other value (a BLOB in a TEXT column, the
 * text 'N/A' in a DECIMAL column, a REAL in an INTEGER column, anything but text in an untyped
 * column) cannot be told apart in its kind's encoding, so it is written *tagged* with its storage
 * class:
 *
 *     { "$sqlite": "integer" | "real" | "text" | "blob", "value": "<text>" }
 *
 * where value is the decimal integer, the shortest round-trip real ("Infinity", "-Infinity",
 * "-0" included), the text itself, or the bytes in base64. A tag restores into SQLite exactly;
 * another engine's destination refuses it as a value its column cannot take.
 *
 * Decoding (`decodeValue`, Destination side) reads a wire value by the *backup's* kind and binds
 * what the *target* column would store, so that nothing is silently changed:
 * - strings bound into a numeric-affinity column that SQLite would convert to a number are
 *   converted here (exactly: SQLite's own text→real conversion keeps only 15 digits), and refused
 *   when the number, written back, would not be the same text ('007' in a DATETIME column);
 * - values SQLite cannot hold are refused: NaN (SQLite stores NULL), -0 in a numeric column
 *   (stored as 0), integers beyond 64 bits, decimals a double cannot hold exactly.
 * Refusals throw `ValueDecodeError`; the destination adds table, column and key to it.
 */
import { isUtf8 } from 'node:buffer'
import type { ColumnSchema, Engine, ValueKind, WireValue } from '../adapter.js'
import { sqliteColumnType } from '../types/type-mapping.js'

/** SQLite's five column affinities. */
export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC'

/** A value as better-sqlite3 reads it with `safeIntegers(true)`, or binds it. */
export type SqliteValue = null | bigint | number | string | Buffer

/** The storage classes a tag may name. */
export type StorageClass = 'integer' | 'real' | 'text' | 'blob'

/** A value written with its storage class because its column's kind cannot carry it (module header). */
export type StorageTag = {
  readonly $sqlite: StorageClass
  readonly value: string
}

/** Why a wire value could not be bound: a malformed wire value, or one SQLite cannot hold exactly. */
export class ValueDecodeError extends Error {
  override readonly name = 'ValueDecodeError'
  constructor(
    message: string,
    readonly reason: 'malformed' | 'unrepresentable',
  ) {
    super(message)
  }
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const STORAGE_CLASSES: readonly string[] = ['integer', 'real', 'text', 'blob']
const NUMERIC_KINDS: ReadonlySet<ValueKind> = new Set(['boolean', 'integer', 'bigint', 'decimal', 'float', 'unknown'])

/** The affinity SQLite gives a declared type (datatype3.html §3.1; the rules apply in this order). */
export function affinityOf(declaredType: string): Affinity {
  const type = declaredType.toUpperCase()
  if (type.includes('INT')) return 'INTEGER'
  if (type.includes('CHAR') || type.includes('CLOB') || type.includes('TEXT')) return 'TEXT'
  if (type.includes('BLOB') || type.trim() === '') return 'BLOB'
  if (type.includes('REAL') || type.includes('FLOA') || type.includes('DOUB')) return 'REAL'
  return 'NUMERIC'
}

/** The wire kind of a column with this declared type (module header has the table). */
export function kindOf(declaredType: string): ValueKind {
  const affinity = affinityOf(declaredType)
  switch (affinity) {
    case 'INTEGER':
      return 'bigint'
    case 'REAL':
      return 'float'
    case 'TEXT':
      return 'text'
    case 'BLOB':
      return declaredType.trim() === '' ? 'unknown' : 'binary'
    case 'NUMERIC': {
      const type = declaredType.toUpperCase()
      if (type.startsWith('BOOL')) return 'boolean'
      if (/^(NUMERIC|DECIMAL|NUMBER|MONEY)\b/.test(type)) return 'decimal'
      if (type.startsWith('JSON')) return 'json'
      return 'text'
    }
  }
}

/** The shortest text that reads back as exactly this double (JavaScript's own), with -0 kept. */
function realText(value: number): string {
  if (Object.is(value, -0)) return '-0'
  return String(value)
}

function tag(storageClass: StorageClass, value: string): StorageTag {
  return { $sqlite: storageClass, value }
}

function tagOf(value: bigint | number | string | Buffer): StorageTag {
  if (typeof value === 'bigint') return tag('integer', value.toString())
  if (typeof value === 'number') return tag('real', realText(value))
  if (typeof value === 'string') return tag('text', value)
  return tag('blob', value.toString('base64'))
}

/** A REAL that SQLite would store as-is in a NUMERIC column (not integral within 64 bits, finite). */
function isStoredRealOfNumeric(value: number): boolean {
  return Number.isFinite(value) && !Object.is(value, -0) && !(Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63)
}

/**
 * Encodes one value read from SQLite (with safe integers) into the wire encoding of `kind`,
 * tagging it with its storage class when the kind cannot carry it (module header). Never throws.
 */
export function encodeValue(value: SqliteValue, kind: ValueKind): WireValue {
  if (value === null) return null
  switch (kind) {
    case 'bigint':
      return typeof value === 'bigint' ? value.toString() : tagOf(value)
    case 'float':
      if (typeof value !== 'number') return tagOf(value)
      if (Number.isNaN(value)) return 'NaN'
      if (value === Infinity) return 'Infinity'
      if (value === -Infinity) return '-Infinity'
      return Object.is(value, -0) ? '-0' : value
    case 'decimal':
      if (typeof value === 'bigint') return value.toString()
      if (typeof value === 'number' && !Number.isNaN(value) && !Object.is(value, -0)) {
        return value === Infinity ? 'Infinity' : value === -Infinity ? '-Infinity' : String(value)
      }
      return tagOf(value)
    case 'boolean':
      if (value === 0n) return false
      if (value === 1n) return true
      return tagOf(value)
    case 'binary':
      return Buffer.isBuffer(value) ? value.toString('base64') : tagOf(value)
    case 'unknown':
      if (typeof value === 'string') return value
      if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
        return Number(value)
      }
      if (typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value)) return value
      return tagOf(value)
    default:
      // text, json (and any kind a SQLite column never has): text as is; numbers that a
      // NUMERIC-affinity column holds (module header) as their decimal text.
      if (typeof value === 'string') return value
      if (typeof value === 'bigint') return value.toString()
      if (typeof value === 'number' && isStoredRealOfNumeric(value)) return String(value)
      return tagOf(value)
  }
}

/** Is this wire value a storage-class tag (module header)? */
export function isStorageTag(value: WireValue): value is WireValue & StorageTag {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const keys = Object.keys(value)
  return (
    keys.length === 2 &&
    typeof value.$sqlite === 'string' &&
    STORAGE_CLASSES.includes(value.$sqlite) &&
    typeof value.value === 'string'
  )
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Strict standard base64 (padded, no whitespace): Buffer.from alone would skip bad characters
 * silently. Text that decodes and encodes back to itself is canonical base64 (what every backup
 * writes), which the pattern accepts: that round trip is about 4 × cheaper than the pattern on
 * kilobyte values; anything else is judged by the pattern.
 */
export function decodeBase64(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64')
  if (bytes.toString('base64') === text) return bytes
  if (!BASE64.test(text)) throw new ValueDecodeError(`"${preview(text)}" is not base64 (standard alphabet, padded)`, 'malformed')
  return bytes
}

const STRICT_INTEGER = /^-?(?:0|[1-9][0-9]*)$/
/** What SQLite's affinity accepts as a numeric literal (sqlite3AtoF: spaces around, sign, digits, fraction, exponent). */
const SQLITE_NUMERIC_TEXT = /^[ \t\n\v\f\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\v\f\r]*$/

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}

function decodeTag(value: StorageTag): SqliteValue {
  switch (value.$sqlite) {
    case 'integer':
      if (!STRICT_INTEGER.test(value.value)) throw new ValueDecodeError(`tagged integer "${preview(value.value)}" is not an integer`, 'malformed')
      return toInt64(BigInt(value.value), value.value)
    case 'real': {
      const real = readReal(value.value)
      if (real === undefined) throw new ValueDecodeError(`tagged real "${preview(value.value)}" is not a number`, 'malformed')
      return real
    }
    case 'text':
      return value.value
    case 'blob':
      return decodeBase64(value.value)
  }
}

function toInt64(value: bigint, text: string): bigint {
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new ValueDecodeError(`${preview(text)} is outside SQLite's 64-bit integer range`, 'unrepresentable')
  }
  return value
}

/** A real in the float wire encoding: a finite decimal number, "Infinity", "-Infinity", "-0", "NaN". */
function readReal(text: string): number | undefined {
  if (text === 'Infinity') return Infinity
  if (text === '-Infinity') return -Infinity
  if (text === 'NaN') return NaN
  if (!/^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(text)) return undefined
  return Number(text)
}

/**
 * A decimal number as (sign, digits without leading/trailing zeros, exponent), so that two
 * spellings of one value compare equal ("1.50" = "1.5" = "15e-1"). Undefined if not a number.
 */
function normalizeDecimal(text: string): string | undefined {
  const match = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(text.trim())
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) return undefined
  const digits = `${match[2]}${match[3] ?? ''}`
  let exponent = Number(match[4] ?? '0') - (match[3] ?? '').length
  const leading = digits.replace(/^0+/, '')
  if (leading === '') return '0'
  const significant = leading.replace(/0+$/, '')
  exponent += leading.length - significant.length
  return `${match[1] === '-' ? '-' : ''}${significant}e${exponent}`
}

/** Rejects -0 and NaN where SQLite would change them (module header). */
function checkReal(value: number, affinity: Affinity): number {
  if (Number.isNaN(value)) throw new ValueDecodeError('SQLite cannot store NaN (it would store NULL)', 'unrepresentable')
  if (Object.is(value, -0) && affinity !== 'BLOB' && affinity !== 'TEXT') {
    throw new ValueDecodeError(`SQLite stores -0 as 0 in a column with ${affinity} affinity`, 'unrepresentable')
  }
  return value
}

/** An integer bound into a REAL column becomes a double: refuse if that changes it. */
function checkIntegerInto(value: bigint, affinity: Affinity): bigint {
  if (affinity === 'REAL' && BigInt(Number(value)) !== value) {
    throw new ValueDecodeError(`${value} does not fit a REAL column exactly`, 'unrepresentable')
  }
  return value
}

/**
 * What SQLite would store for `text` bound into a column of numeric affinity: the number, bound
 * directly so it is exact; or the text itself when SQLite leaves it as text. `sameValue` decides
 * whether the stored number still means `text` (exact spelling for text kinds, numeric value for
 * numeric kinds); when it does not, the value is refused rather than changed.
 */
function textIntoNumeric(text: string, affinity: Affinity, sameValue: 'spelling' | 'value'): SqliteValue {
  if (affinity !== 'INTEGER' && affinity !== 'NUMERIC' && affinity !== 'REAL') return text
  if (!SQLITE_NUMERIC_TEXT.test(text)) return text
  const trimmed = text.trim()
  let stored: bigint | number
  if (/^[+-]?[0-9]+$/.test(trimmed) && BigInt(trimmed) >= INT64_MIN && BigInt(trimmed) <= INT64_MAX) {
    stored = BigInt(trimmed)
    if (affinity === 'REAL') stored = Number(stored)
  } else {
    stored = Number(trimmed)
    // INTEGER and NUMERIC affinity store an integral real that fits 64 bits as an integer.
    if (affinity !== 'REAL' && Number.isInteger(stored) && stored >= -(2 ** 63) && stored < 2 ** 63) stored = BigInt(stored)
    else if (Object.is(stored, -0)) stored = affinity === 'REAL' ? 0 : 0n
  }
  const written = typeof stored === 'bigint' ? stored.toString() : realText(stored)
  // The same spelling is the same value: most numbers come written as SQLite writes them back.
  const same = written === text || (sameValue === 'value' && normalizeDecimal(written) === normalizeDecimal(text))
  if (!same) {
    throw new ValueDecodeError(
      `SQLite would store "${preview(text)}" as the number ${written} in a column with ${affinity} affinity, changing it (declare the column TEXT to keep it as written)`,
      'unrepresentable',
    )
  }
  if (typeof stored === 'number' && !Number.isFinite(stored)) {
    throw new ValueDecodeError(`"${preview(text)}" is out of range for SQLite`, 'unrepresentable')
  }
  return stored
}

/** JSON text for a structured value (array, document, seed object) bound into a text column. */
function jsonText(value: WireValue): string {
  return JSON.stringify(value)
}

/**
 * Decodes one wire value of the backup's `kind` into the value to bind for a target column of
 * `affinity` (module header). Throws ValueDecodeError for a malformed value or one SQLite would
 * not store exactly.
 */
export function decodeValue(value: WireValue | undefined, kind: ValueKind, affinity: Affinity): SqliteValue {
  if (value === null || value === undefined) return null
  if (isStorageTag(value)) return decodeTag(value)
  if (typeof value === 'boolean') {
    // SQLite stores booleans as 0/1 (seed files carry true/false for them); a text or JSON
    // column keeps the word.
    if (NUMERIC_KINDS.has(kind)) return value ? 1n : 0n
    return textIntoNumeric(String(value), affinity, 'spelling')
  }
  if (typeof value === 'number') return decodeNumber(value, kind, affinity)
  if (typeof value !== 'string') {
    if (kind === 'binary') throw new ValueDecodeError('binary values must be base64 strings', 'malformed')
    return textIntoNumeric(jsonText(value), affinity, 'spelling')
  }
  switch (kind) {
    case 'binary':
      return decodeBase64(value)
    case 'boolean': {
      const lowered = value.toLowerCase()
      if (['true', 't', '1', 'yes', 'on'].includes(lowered)) return 1n
      if (['false', 'f', '0', 'no', 'off'].includes(lowered)) return 0n
      throw new ValueDecodeError(`"${preview(value)}" is not a boolean`, 'malformed')
    }
    case 'float': {
      const real = readReal(value)
      if (real === undefined) throw new ValueDecodeError(`"${preview(value)}" is not a float`, 'malformed')
      return affinity === 'TEXT' ? value : checkReal(real, affinity)
    }
    case 'integer':
    case 'bigint':
    case 'decimal': {
      if (value === 'NaN') {
        if (affinity === 'TEXT' || affinity === 'BLOB') return value
        throw new ValueDecodeError('SQLite cannot store a NaN number (declare the column TEXT to keep it as text)', 'unrepresentable')
      }
      if (value === 'Infinity' || value === '-Infinity') return affinity === 'TEXT' || affinity === 'BLOB' ? value : Number(value)
      // An integer's text is a number: the general check (normalizeDecimal) is for the rest.
      const integral = STRICT_INTEGER.test(value)
      if (!integral && normalizeDecimal(value) === undefined) throw new ValueDecodeError(`"${preview(value)}" is not a number`, 'malformed')
      if (affinity === 'TEXT' || affinity === 'BLOB') {
        // Untyped and text columns keep the decimal text exactly; an integer still binds as one.
        return integral && kind !== 'decimal' ? toInt64(BigInt(value), value) : value
      }
      if (kind !== 'decimal' && integral) return checkIntegerInto(toInt64(BigInt(value), value), affinity)
      return textIntoNumeric(value, affinity, 'value')
    }
    default:
      // text, json, enum, date, timestamp(tz), time, interval, bit, unknown: text, which numeric
      // affinity may turn into a number (module header).
      return textIntoNumeric(value, affinity, 'spelling')
  }
}

function decodeNumber(value: number, kind: ValueKind, affinity: Affinity): SqliteValue {
  if (kind === 'binary') throw new ValueDecodeError('binary values must be base64 strings', 'malformed')
  if (kind === 'boolean') {
    if (value === 0 || value === 1) return BigInt(value)
    throw new ValueDecodeError(`${value} is not a boolean`, 'malformed')
  }
  if (affinity === 'TEXT' && kind !== 'float') return realText(value)
  if (Number.isInteger(value) && !Object.is(value, -0) && kind !== 'float') {
    if (!Number.isSafeInteger(value)) throw new ValueDecodeError(`${value} is beyond 2^53: write 64-bit integers as strings`, 'malformed')
    return checkIntegerInto(BigInt(value), affinity)
  }
  if (affinity === 'TEXT') return realText(value)
  return checkReal(value, affinity)
}

/** A type name that can be written into DDL as it is: `varchar(255)`, `numeric(10, 2)`, `double precision`. */
const PLAIN_TYPE = /^[A-Za-z][A-Za-z0-9_ ]*(?:\(\s*[0-9]+\s*(?:,\s*[0-9]+\s*)?\))?$/

/**
 * The declared type for a new SQLite column holding a backup column from `engine`. A SQLite
 * backup keeps its own type. For another engine the type keeps the original name when SQLite
 * reads the same kind and affinity from it (`varchar(255)`, `numeric(10,2)`, `jsonb`), and
 * otherwise takes the type of the cross-engine mapping (src/adapters/types/type-mapping.ts).
 * A seed's untyped column stays untyped.
 */
export function sqliteTypeFor(column: Pick<ColumnSchema, 'type' | 'kind'>, engine: Engine): string {
  if (engine === 'sqlite') return column.type
  const mapped = sqliteColumnType(column, engine)
  const named = column.kind === 'decimal' || column.kind === 'json' || column.kind === 'text'
  const keep = named && PLAIN_TYPE.test(column.type) && kindOf(column.type) === column.kind && affinityOf(column.type) === affinityOf(mapped)
  return keep ? column.type : mapped
}

/**
 * A function that writes one row, as read with `.raw()` (values in `columns` order), as its
 * record line: exactly `JSON.stringify` of the row object `encodeValue` would give, built as
 * text without that object (Source.readRecordLines). The common cases (text in a text column,
 * an integer in an INTEGER column, 0/1 in a boolean one, NULL) are spelled directly; any other
 * value goes through encodeValue and JSON.stringify, so the bytes are the same as readTable's.
 * Undefined when a column name would not keep its place as an object key (an array index such
 * as "1" is moved first by JSON.stringify, and `__proto__` is not an own key when assigned):
 * the caller then builds row objects.
 */
export function recordLineEncoder(columns: readonly { readonly name: string; readonly kind: ValueKind }[]): ((values: readonly unknown[]) => string) | undefined {
  if (columns.some((c) => c.name === '__proto__' || isArrayIndex(c.name))) return undefined
  const prefixes = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`)
  const encoders = columns.map((c) => valueTextEncoder(c.kind))
  const count = columns.length
  return (values) => {
    let line = ''
    for (let i = 0; i < count; i++) line += prefixes[i] + encoders[i](values[i] as SqliteValue)
    return `${line}}`
  }
}

/**
 * Record lines written by SQLite itself (Source.readRecordLines): the SELECT list and the
 * function that turns each row it returns into the line's bytes, '\n' included.
 *
 * The first result column is the whole line as a BLOB, concatenated in SQL from each column's
 * JSON as `recordLineEncoder` spells it, where SQLite spells it the same (`sqlFragment`); a value
 * it does not spell is left as the byte 0x01, which no line otherwise holds (JSON escapes every
 * control character, and json_quote escapes them as JSON.stringify does). The next result
 * columns are, per column, exactly those values (NULL where SQLite wrote the value), so that
 * `finishRows` splices their JavaScript spelling into the gaps in column order. Reading the line as a
 * BLOB spares JavaScript a string per value and the UTF-8 round trip; `finishChunk` re-encodes
 * only a chunk holding text that is not valid UTF-8 (as reading it into a string would have
 * replaced it).
 * Only for a database whose text is UTF-8 (PRAGMA encoding) and at most MAX_SQL_LINE_COLUMNS
 * columns (SQLite's limit on result columns); undefined when recordLineEncoder declines the table.
 * `reals` (Source.lineBlocks' range values): reals of float and decimal columns are spelled in SQL
 * where sqlRealText can, the others left as 0x01 with no value beside them; only the line (the
 * first result column) is for use then, never `finishRows`.
 */
export function sqlRecordLines(
  columns: readonly { readonly name: string; readonly kind: ValueKind; readonly quoted: string }[],
  options: { readonly reals?: boolean } = {},
): {
  readonly select: readonly string[]
  readonly finishRows: (rows: readonly (readonly unknown[])[]) => Buffer
  readonly splice: (lines: Buffer, gaps: readonly unknown[]) => Buffer
} | undefined {
  if (columns.length > MAX_SQL_LINE_COLUMNS || recordLineEncoder(columns) === undefined) return undefined
  const fragments = columns.map((c) => sqlFragment(c.quoted, c.kind, options.reals === true))
  const parts = columns.flatMap((c, i) => [sqlText(`${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`), fragments[i].line])
  parts.push(sqlText('}\n'))
  const select = [`CAST(${sqlConcat(parts)} AS BLOB)`, ...fragments.map((f) => f.raw)]
  const encoders = columns.map((c) => valueTextEncoder(c.kind))
  // Pushes the row's line onto `pieces`, each 0x01 replaced, in column order, by the one value
  // SQLite returned beside the line.
  const pushLine = (row: readonly unknown[], pieces: Buffer[]): void => {
    const line = row[0] as Buffer
    let gap = line.indexOf(1)
    if (gap < 0) {
      pieces.push(line)
      return
    }
    let from = 0
    for (let i = 0; i < encoders.length; i++) {
      const value = row[i + 1] as SqliteValue
      if (value === null) continue
      pieces.push(line.subarray(from, gap), Buffer.from(encoders[i](value)))
      from = gap + 1
      gap = line.indexOf(1, from)
    }
    pieces.push(line.subarray(from))
  }
  // The lines of many rows as one Buffer: their pieces copied once (not a Buffer per row with a
  // gap and then a copy of the rows).
  const finishRows = (rows: readonly (readonly unknown[])[]): Buffer => {
    const pieces: Buffer[] = []
    for (const row of rows) pushLine(row, pieces)
    return Buffer.concat(pieces)
  }
  // The lines of many rows at once, their gaps filled from flat [column, value] pairs in order
  // (the non-NULL raw values, as the reader thread sends them: sqlite-reader-thread.ts). A blob
  // crosses the thread as a Uint8Array and is a Buffer again here.
  const splice = (lines: Buffer, gaps: readonly unknown[]): Buffer => {
    if (gaps.length === 0) return lines
    const pieces: Buffer[] = []
    let from = 0
    for (let k = 0; k < gaps.length; k += 2) {
      const gap = lines.indexOf(1, from)
      if (gap < 0) throw new Error('A record line from SQLite has fewer gaps than values to fill them.')
      const value = gaps[k + 1]
      const column = gaps[k] as number
      pieces.push(lines.subarray(from, gap), Buffer.from(encoders[column](value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : (value as SqliteValue))))
      from = gap + 1
    }
    pieces.push(lines.subarray(from))
    return Buffer.concat(pieces)
  }
  return { select, finishRows, splice }
}

/** Lines as SQLite wrote them, checked: text that is not valid UTF-8 becomes what a JavaScript string of it would (U+FFFD). */
export function finishChunk(chunk: Buffer): Buffer {
  return isUtf8(chunk) ? chunk : Buffer.from(chunk.toString('utf8'))
}

/** SQLite's limit on result columns is 2000; the SELECT of sqlRecordLines has one more than the table. */
const MAX_SQL_LINE_COLUMNS = 1000

function sqlText(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}

/** concat() of the parts, nested so that no call passes SQLite's 127 arguments (nor `||` its expression depth). */
function sqlConcat(parts: readonly string[]): string {
  if (parts.length <= 100) return `concat(${parts.join(', ')})`
  const groups: string[] = []
  for (let i = 0; i < parts.length; i += 100) groups.push(sqlConcat(parts.slice(i, i + 100)))
  return sqlConcat(groups)
}

/**
 * One value's JSON as valueTextEncoder writes it, in SQL: `line`, its spelling, or the byte 0x01
 * where SQLite cannot spell it; `raw`, the value itself exactly where `line` has the 0x01, NULL
 * elsewhere (a NULL is always spelled). SQLite spells text (json_quote), integers (in decimal,
 * as BigInt.toString does) and NULL; reals go to JavaScript, whose shortest round-trip spelling
 * SQLite does not write (it gives 15 or 17 digits, and "5.0"), and blobs too (no base64 in SQL).
 */
function sqlFragment(column: string, kind: ValueKind, reals: boolean): { line: string; raw: string } {
  const type = `typeof(${column})`
  const gap = 'char(1)'
  // `reals` (the lines of Source.lineBlocks only, never `raw`): a real spelled where sqlRealText can.
  if (reals && kind === 'decimal') {
    return {
      line: `CASE ${type} WHEN 'integer' THEN '"' || ${column} || '"' WHEN 'null' THEN 'null' WHEN 'real' THEN coalesce('"' || ${sqlRealText(column)} || '"', ${gap}) ELSE ${gap} END`,
      raw: 'NULL',
    }
  }
  if (reals && kind === 'float') {
    return { line: `CASE ${type} WHEN 'null' THEN 'null' WHEN 'real' THEN coalesce(${sqlRealText(column)}, ${gap}) ELSE ${gap} END`, raw: 'NULL' }
  }
  switch (kind) {
    case 'bigint':
    case 'decimal':
      return {
        line: `CASE ${type} WHEN 'integer' THEN '"' || ${column} || '"' WHEN 'null' THEN 'null' ELSE ${gap} END`,
        raw: `CASE ${type} WHEN 'integer' THEN NULL ELSE ${column} END`,
      }
    case 'boolean':
      return {
        line: `CASE WHEN ${type} <> 'integer' THEN iif(${column} IS NULL, 'null', ${gap}) WHEN ${column} = 0 THEN 'false' WHEN ${column} = 1 THEN 'true' ELSE ${gap} END`,
        raw: `CASE WHEN ${type} = 'integer' AND ${column} IN (0, 1) THEN NULL ELSE ${column} END`,
      }
    case 'float':
    case 'binary':
      return { line: `iif(${column} IS NULL, 'null', ${gap})`, raw: column }
    case 'unknown':
      return {
        line: `CASE ${type} WHEN 'text' THEN json_quote(${column}) WHEN 'null' THEN 'null' ELSE ${gap} END`,
        raw: `CASE ${type} WHEN 'text' THEN NULL ELSE ${column} END`,
      }
    default:
      return {
        line: `CASE ${type} WHEN 'text' THEN json_quote(${column}) WHEN 'integer' THEN '"' || ${column} || '"' WHEN 'null' THEN 'null' ELSE ${gap} END`,
        raw: `CASE WHEN ${type} IN ('real', 'blob') THEN ${column} END`,
      }
  }
}

/** Decimal places sqlRealText writes (a real with more is left to JavaScript). */
export const SQL_REAL_MAX_PLACES = 6

/**
 * SQL for `String(x)` of the REAL `column` (JavaScript's shortest round-trip spelling) where it is
 * shown to be exact, NULL elsewhere (docs/performance.md §Round eight). Under 10^9 in magnitude:
 * m = round(x·10^6), and x must come back exactly as m / 10^6 (m and 10^6 are doubles exactly,
 * being integers under 2^53, and IEEE division rounds correctly), so x is the double nearest to the
 * decimal m·10^-6, which is what JavaScript reads that decimal as; from 10^9 to 10^15, the same
 * with m = x itself (an integral real). The text is that decimal written from m's digits by integer
 * arithmetic (no float formatting), trailing zeros of the fraction dropped: it reads back as x in
 * JavaScript whatever else holds, so a line spelled here that equals a line JavaScript wrote holds
 * the same double. It is also String(x) itself: a decimal of at most 15 significant digits that
 * reads back as x is the only one (15-digit decimals lie further apart than the width of the
 * interval of reals that round to x), so it is JavaScript's shortest, and from 10^-6 to 10^21
 * JavaScript writes no exponent. Zero (and -0, which SQLite compares equal to it), infinities and
 * other magnitudes: NULL.
 */
export function sqlRealText(column: string): string {
  const sign = `iif(${column} < 0, '-', '')`
  const m = `CAST(round(${column} * CAST(1000000 AS REAL)) AS INTEGER)`
  const fraction = `rtrim(rtrim((abs(${m}) / 1000000) || '.' || substr(abs(${m}) % 1000000 + 1000000, 2), '0'), '.')`
  const whole = `CAST(${column} AS INTEGER)`
  return (
    `(CASE WHEN ${column} = 0 THEN NULL ` +
    `WHEN ${column} > -1000000000 AND ${column} < 1000000000 THEN iif(CAST(${m} AS REAL) / CAST(1000000 AS REAL) = ${column}, ${sign} || ${fraction}, NULL) ` +
    `WHEN ${column} > -1000000000000000 AND ${column} < 1000000000000000 THEN iif(CAST(${whole} AS REAL) = ${column}, ${sign} || abs(${whole}), NULL) END)`
  )
}

/** JSON text of encodeValue(value, kind), with the kind's usual storage class spelled directly. */
function valueTextEncoder(kind: ValueKind): (value: SqliteValue) => string {
  const general = (value: SqliteValue): string => (value === null ? 'null' : JSON.stringify(encodeValue(value, kind)))
  switch (kind) {
    case 'bigint':
      // Decimal digits and a sign need no escaping.
      return (value) => (typeof value === 'bigint' ? `"${value}"` : general(value))
    case 'boolean':
      return (value) => (value === 0n ? 'false' : value === 1n ? 'true' : general(value))
    case 'binary':
    case 'float':
    case 'decimal':
    case 'unknown':
      return general
    default:
      return (value) => (typeof value === 'string' ? JSON.stringify(value) : general(value))
  }
}

/** A canonical array index ("0" … "4294967294"), which JavaScript orders before other keys. */
function isArrayIndex(name: string): boolean {
  return /^(?:0|[1-9][0-9]*)$/.test(name) && Number(name) < 2 ** 32 - 1
}
