/**
 * MySQL/MariaDB values ⇄ wire encoding (docs/format.md §Values, docs/adapters-mysql.md).
 *
 * Reading: connections are opened with `supportBigNumbers` + `bigNumberStrings` (BIGINT and
 * DECIMAL arrive as the server's text), `dateStrings` (DATE/DATETIME/TIMESTAMP arrive as the
 * server's text, never as a JS Date, so no client time zone can shift them), `jsonStrings` (JSON
 * keeps its text byte for byte) and session `time_zone = '+00:00'` (TIMESTAMP text is UTC).
 * The one value the text protocol prints lossily is FLOAT (6 significant digits), so FLOAT
 * columns are selected as `CAST(col AS DOUBLE)`, which widens the float exactly; the encoder then
 * writes the shortest decimal that reads back as the same float.
 *
 * Writing: every value becomes an SQL literal chosen by the *target* column's type, never a bound
 * string parameter. That matters for comparisons too (readByKeys, updateRows): `bigint_col = '…'`
 * would compare as doubles and match the wrong row beyond 2^53, so integers and decimals are
 * written unquoted after being checked against a strict grammar, strings are escaped for the
 * session's fixed sql_mode (no NO_BACKSLASH_ESCAPES), binary goes as X'hex'.
 *
 * The kind of the backup column (`sourceKind`) only disambiguates a few values (a base64 string is
 * binary only when it came from a binary column); otherwise the target column decides, which is
 * what lets "Smart Backup" rows (kind `unknown`) land in typed columns.
 */
import type { ColumnSchema, ValueKind, WireValue } from '../adapter.js'
import { DatabaseError, FormatError } from '../../errors.js'
import { base64ToBytes, encodeFloat, trimFraction } from '../../format/values.js'

/** What a column is, for the codecs: derived from `information_schema.COLUMNS.DATA_TYPE`. */
export type MysqlTypeClass =
  | 'integer'
  | 'bigint'
  | 'decimal'
  | 'float'
  | 'double'
  | 'bit'
  | 'text'
  | 'binary'
  | 'date'
  | 'datetime'
  | 'timestamp'
  | 'time'
  | 'year'
  | 'json'
  | 'enum'
  | 'set'
  | 'geometry'
  | 'other'

const TYPE_CLASSES: Readonly<Record<string, MysqlTypeClass>> = {
  tinyint: 'integer',
  smallint: 'integer',
  mediumint: 'integer',
  int: 'integer',
  integer: 'integer',
  bigint: 'bigint',
  decimal: 'decimal',
  numeric: 'decimal',
  float: 'float',
  double: 'double',
  real: 'double',
  'double precision': 'double',
  bit: 'bit',
  char: 'text',
  varchar: 'text',
  tinytext: 'text',
  text: 'text',
  mediumtext: 'text',
  longtext: 'text',
  uuid: 'text',
  inet4: 'text',
  inet6: 'text',
  binary: 'binary',
  varbinary: 'binary',
  tinyblob: 'binary',
  blob: 'binary',
  mediumblob: 'binary',
  longblob: 'binary',
  date: 'date',
  datetime: 'datetime',
  timestamp: 'timestamp',
  time: 'time',
  year: 'year',
  json: 'json',
  enum: 'enum',
  set: 'set',
  geometry: 'geometry',
  point: 'geometry',
  linestring: 'geometry',
  polygon: 'geometry',
  multipoint: 'geometry',
  multilinestring: 'geometry',
  multipolygon: 'geometry',
  geometrycollection: 'geometry',
  geomcollection: 'geometry',
}

/**
 * The class of a MySQL type, from its DDL spelling (`int(11) unsigned`, `datetime(6)`,
 * `enum('a','b')`, `json`) or a bare DATA_TYPE. Unknown spellings are 'other'.
 */
export function typeClassOf(type: string): MysqlTypeClass {
  const base = /^\s*([a-z][a-z0-9]*(?: precision)?)/i.exec(type)?.[1]?.toLowerCase() ?? ''
  return TYPE_CLASSES[base] ?? 'other'
}

/**
 * The wire kind of a MySQL column type. Decisions (docs/adapters-mysql.md):
 * - every TINYINT, TINYINT(1) and BOOLEAN included, is 'integer': TINYINT(1) holds -128..127 and
 *   BOOLEAN is only its alias, so mapping it to 'boolean' would lose values;
 * - SET is 'text' (the labels comma-separated, as MySQL prints them);
 * - DATETIME is 'timestamp', TIMESTAMP is 'timestamptz' (read and written in UTC);
 * - geometry types are 'binary' (MySQL's internal SRID + WKB bytes, which it accepts back).
 */
export function kindOfType(type: string): ValueKind {
  switch (typeClassOf(type)) {
    case 'integer':
    case 'year':
      return 'integer'
    case 'bigint':
      return 'bigint'
    case 'decimal':
      return 'decimal'
    case 'float':
    case 'double':
      return 'float'
    case 'bit':
      return 'bit'
    case 'text':
    case 'set':
      return 'text'
    case 'binary':
    case 'geometry':
      return 'binary'
    case 'date':
      return 'date'
    case 'datetime':
      return 'timestamp'
    case 'timestamp':
      return 'timestamptz'
    case 'time':
      return 'time'
    case 'json':
      return 'json'
    case 'enum':
      return 'enum'
    case 'other':
      return 'unknown'
  }
}

/** The labels of an `enum('a','b')` / `set(…)` type, in order. */
export function parseEnumLabels(type: string): string[] {
  const open = type.indexOf('(')
  const labels: string[] = []
  if (open < 0) return labels
  const re = /'((?:[^'\\]|''|\\.)*)'/g
  let match: RegExpExecArray | null
  while ((match = re.exec(type.slice(open))) !== null) {
    labels.push(unescapeSqlString(match[1]))
  }
  return labels
}

function unescapeSqlString(text: string): string {
  return text.replace(/''/g, "'").replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '0': '\0', Z: '\x1a', b: '\b' })[c] ?? c)
}

/** The (first) parenthesised number of a type: `bit(5)` → 5, `datetime(6)` → 6, `datetime` → undefined. */
export function typeLength(type: string): number | undefined {
  const match = /\(\s*(\d+)/.exec(type)
  return match ? Number(match[1]) : undefined
}

/** `name` quoted as a MySQL identifier (backticks doubled). */
export function quoteIdentifier(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`'
}

/**
 * The SQL expression that reads `column` exactly: FLOAT widened to DOUBLE (the text protocol
 * prints FLOAT with 6 digits), everything else as it is.
 */
export function valueExpression(column: Pick<ColumnSchema, 'name' | 'type'>, qualifier?: string): string {
  const ref = (qualifier ? `${qualifier}.` : '') + quoteIdentifier(column.name)
  return typeClassOf(column.type) === 'float' ? `CAST(${ref} AS DOUBLE)` : ref
}

/** `valueExpression` aliased to the column's own name, for a SELECT list. */
export function selectExpression(column: Pick<ColumnSchema, 'name' | 'type'>, qualifier?: string): string {
  return `${valueExpression(column, qualifier)} AS ${quoteIdentifier(column.name)}`
}

/** mysql2 parses geometry into objects; this typeCast keeps the raw bytes the encoder expects. */
export function rawGeometryTypeCast(field: { readonly type: string; buffer(): Buffer | null }, next: () => unknown): unknown {
  return field.type === 'GEOMETRY' ? field.buffer() : next()
}

/** Whether any of the columns needs `rawGeometryTypeCast`. */
export function hasGeometry(columns: readonly Pick<ColumnSchema, 'type'>[]): boolean {
  return columns.some((c) => typeClassOf(c.type) === 'geometry')
}

// ---------------------------------------------------------------------------------------------
// Reading: driver value → wire value

/** Turns the driver's value for one column into its wire value. */
export type Encoder = (raw: unknown) => WireValue

/**
 * The float4 value `x` (a double that holds a float exactly) as the shortest decimal that reads
 * back as the same float4: 1.100000023841858 → 1.1.
 */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x
  const target = Math.fround(x)
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(target.toPrecision(digits))
    if (Math.fround(candidate) === target) return candidate
  }
  return target
}

function bitsOf(buffer: Buffer, width: number): string {
  let bits = ''
  for (const byte of buffer) bits += byte.toString(2).padStart(8, '0')
  return bits.slice(Math.max(0, bits.length - width)).padStart(width, '0')
}

/** The encoder for a column of this MySQL type (as described by mysql-introspector). */
export function encoderFor(column: Pick<ColumnSchema, 'type'>): Encoder {
  const cls = typeClassOf(column.type)
  switch (cls) {
    case 'integer':
    case 'year':
      return (raw) => (raw === null ? null : Number(raw))
    case 'bigint':
    case 'decimal':
      return (raw) => (raw === null ? null : String(raw))
    case 'float':
      return (raw) => (raw === null ? null : encodeFloat(shortestFloat32(Number(raw))))
    case 'double':
      return (raw) => (raw === null ? null : encodeFloat(Number(raw)))
    case 'bit': {
      const width = typeLength(column.type) ?? 1
      return (raw) => (raw === null ? null : bitsOf(raw as Buffer, width))
    }
    case 'binary':
    case 'geometry':
      return (raw) => (raw === null ? null : (raw as Buffer).toString('base64'))
    case 'datetime':
      return (raw) => (raw === null ? null : trimFraction(String(raw)).replace(' ', 'T'))
    case 'timestamp':
      return (raw) => (raw === null ? null : `${trimFraction(String(raw)).replace(' ', 'T')}Z`)
    case 'time':
      return (raw) => (raw === null ? null : trimFraction(String(raw)))
    case 'date':
    case 'text':
    case 'json':
    case 'enum':
    case 'set':
      return (raw) => (raw === null ? null : String(raw))
    case 'other':
      return (raw) => (raw === null ? null : Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw))
  }
}

// ---------------------------------------------------------------------------------------------
// Writing: wire value → SQL literal for the target column

/** Where a value is going, for error messages and decoding. */
export interface TargetColumn {
  readonly name: string
  readonly type: string
}

function cannotHold(column: TargetColumn, value: WireValue, why: string): DatabaseError {
  const shown = JSON.stringify(value)
  return new DatabaseError(
    `Column ${quoteIdentifier(column.name)} (${column.type}) cannot hold ${shown.length > 80 ? shown.slice(0, 77) + '...' : shown}: ${why}.`,
    { details: { column: column.name } },
  )
}

const INTEGER_TEXT = /^[+-]?\d+$/
const INTEGRAL_DECIMAL_TEXT = /^([+-]?\d+)(?:\.0*)?$/
const DECIMAL_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/
const FLOAT_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

/**
 * Escapes a string for a single-quoted MySQL literal. Correct because every mergeback session
 * sets an sql_mode without NO_BACKSLASH_ESCAPES and the connection character set utf8mb4.
 */
const NEEDS_ESCAPE = /[\0\n\r\b\t\x1a'"\\]/

export function quoteString(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return `'${text}'`
  return (
    "'" +
    text.replace(/[\0\n\r\b\t\x1a'"\\]/g, (c) => {
      switch (c) {
        case '\0':
          return '\\0'
        case '\n':
          return '\\n'
        case '\r':
          return '\\r'
        case '\b':
          return '\\b'
        case '\t':
          return '\\t'
        case '\x1a':
          return '\\Z'
        default:
          return '\\' + c
      }
    }) +
    "'"
  )
}

function hexLiteral(bytes: Buffer): string {
  return `X'${bytes.toString('hex')}'`
}

function jsonText(value: WireValue): string {
  return JSON.stringify(value)
}

function integerLiteral(column: TargetColumn, value: WireValue): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  if (typeof value === 'boolean') return value ? '1' : '0'
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return BigInt(value).toString()
    throw cannotHold(column, value, 'it is not an integer')
  }
  if (typeof value === 'string') {
    const text = value.trim()
    if (INTEGER_TEXT.test(text)) return text
    const integral = INTEGRAL_DECIMAL_TEXT.exec(text)
    if (integral) return integral[1]
    if (text === 'true' || text === 'false') return text === 'true' ? '1' : '0'
    throw cannotHold(column, value, 'it is not an integer')
  }
  throw cannotHold(column, value, 'it is not an integer')
}

function decimalLiteral(column: TargetColumn, value: WireValue): string {
  if (typeof value === 'boolean') return value ? '1' : '0'
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw cannotHold(column, value, 'MySQL has no NaN or Infinity')
    const text = String(value)
    // Exponent notation would be read as a DOUBLE literal; as a string MySQL converts it to DECIMAL exactly.
    return DECIMAL_TEXT.test(text) ? text : quoteString(text)
  }
  if (typeof value === 'string') {
    const text = value.trim()
    if (DECIMAL_TEXT.test(text)) return text
    if (FLOAT_TEXT.test(text)) return quoteString(text)
    if (/^[+-]?(NaN|Infinity)$/.test(text)) throw cannotHold(column, value, 'MySQL has no NaN or Infinity')
  }
  throw cannotHold(column, value, 'it is not a decimal number')
}

function floatLiteral(column: TargetColumn, value: WireValue, float4: boolean): string {
  if (typeof value === 'boolean') return value ? '1' : '0'
  let number: number
  if (typeof value === 'number') number = value
  else if (typeof value === 'string' && FLOAT_TEXT.test(value.trim())) number = Number(value.trim())
  else if (typeof value === 'string' && /^[+-]?(NaN|Infinity)$/.test(value.trim())) throw cannotHold(column, value, 'MySQL has no NaN or Infinity')
  else throw cannotHold(column, value, 'it is not a number')
  if (float4) {
    // The float4 value itself, written as the double that holds it exactly: the shortest form
    // of FLT_MAX (3.4028235e38) is above FLT_MAX as a double, and MySQL would call it out of range.
    number = Math.fround(number)
  }
  if (!Number.isFinite(number)) throw cannotHold(column, value, Number.isNaN(number) ? 'MySQL has no NaN' : 'it is out of range')
  // JS's shortest round-trip form; a trailing e0 makes it a DOUBLE literal, which MySQL parses with strtod.
  if (Object.is(number, -0)) return '-0e0'
  const text = String(number)
  return /e/i.test(text) ? text : `${text}e0`
}

function bitLiteral(column: TargetColumn, value: WireValue): string {
  if (typeof value === 'boolean') return value ? "b'1'" : "b'0'"
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value).toString()
  if (typeof value === 'string' && /^[01]+$/.test(value)) return `b'${value}'`
  throw cannotHold(column, value, 'a BIT value is a string of 0s and 1s')
}

function binaryLiteral(column: TargetColumn, value: WireValue, sourceKind: ValueKind | undefined): string {
  if (typeof value === 'string') {
    if (sourceKind === 'binary' || sourceKind === 'unknown' || sourceKind === undefined) {
      try {
        return hexLiteral(base64ToBytes(value))
      } catch (error) {
        throw new FormatError(`Column ${quoteIdentifier(column.name)} (${column.type}) expects base64 binary: ${(error as Error).message}.`, {
          cause: error,
          details: { column: column.name },
        })
      }
    }
    // A character value from another engine's text column: its UTF-8 bytes.
    return hexLiteral(Buffer.from(value, 'utf8'))
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && value.type === 'Buffer' && Array.isArray(value.data)) {
    // Node's JSON form of a Buffer, as JSON.stringify writes it in hand-made backups.
    return hexLiteral(Buffer.from(value.data as number[]))
  }
  throw cannotHold(column, value, 'binary values are base64 strings')
}

function textLiteral(value: WireValue): string {
  if (typeof value === 'string') return quoteString(value)
  if (typeof value === 'number' || typeof value === 'boolean') return quoteString(String(value))
  return quoteString(jsonText(value))
}

function jsonLiteral(value: WireValue, sourceKind: ValueKind | undefined): string {
  if (typeof value === 'string') {
    // A json column's wire value is its exact text. A string from a column of another kind is a
    // JSON value only when it parses as one; otherwise it is a JSON string.
    if (sourceKind === 'json') return quoteString(value)
    try {
      JSON.parse(value)
      return quoteString(value)
    } catch {
      return quoteString(JSON.stringify(value))
    }
  }
  return quoteString(jsonText(value))
}

interface DateTimeParts {
  date: string
  time: string
  fraction: string
}

const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/
const DATETIME_TEXT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

/** Parses a wire date/timestamp, shifting a zoned value into UTC. Zero dates are kept as they are. */
function parseDateTime(column: TargetColumn, text: string): DateTimeParts {
  const m = DATETIME_TEXT.exec(text.trim())
  if (!m) throw cannotHold(column, text, 'it is not an ISO-8601 date or timestamp')
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone] = m
  const zero = Number(y) === 0 || Number(mo) === 0 || Number(d) === 0
  if (!zone || zero || /^z$/i.test(zone) || /^[+-]00(:?00)?$/.test(zone)) {
    return { date: `${y}-${mo}-${d}`, time: `${h}:${mi}:${s}`, fraction }
  }
  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  const offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'))
  const instant = new Date(0)
  instant.setUTCFullYear(Number(y), Number(mo) - 1, Number(d))
  instant.setUTCHours(Number(h), Number(mi) - offsetMinutes, Number(s), 0)
  return {
    date: `${pad(instant.getUTCFullYear(), 4)}-${pad(instant.getUTCMonth() + 1)}-${pad(instant.getUTCDate())}`,
    time: `${pad(instant.getUTCHours())}:${pad(instant.getUTCMinutes())}:${pad(instant.getUTCSeconds())}`,
    fraction,
  }
}

function checkFraction(column: TargetColumn, value: WireValue, fraction: string, precision: number): string {
  if (/[1-9]/.test(fraction.slice(precision))) {
    throw cannotHold(column, value, `it has more fractional-second digits than the column's ${precision}`)
  }
  return fraction.slice(0, precision).replace(/0+$/, '')
}

function dateLiteral(column: TargetColumn, value: WireValue): string {
  if (typeof value !== 'string') throw cannotHold(column, value, 'a date is a "YYYY-MM-DD" string')
  if (DATE_TEXT.test(value)) return quoteString(value)
  const parts = parseDateTime(column, value)
  // A timestamp fits a DATE only when it is midnight (as ORMs write dates): never drop a time.
  if (parts.time !== '00:00:00' || /[1-9]/.test(parts.fraction)) throw cannotHold(column, value, 'a DATE has no time of day')
  return quoteString(parts.date)
}

/** The common case, a wire timestamp without zone (or with Z), needs no date arithmetic. */
const PLAIN_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z?$/

function dateTimeLiteral(column: TargetColumn, value: WireValue, precision: number): string {
  if (typeof value !== 'string') throw cannotHold(column, value, 'a timestamp is an ISO-8601 string')
  const plain = PLAIN_TIMESTAMP.exec(value)
  if (plain && (plain[3] === undefined || plain[3].length <= precision)) return `'${plain[1]} ${plain[2]}${plain[3] ? '.' + plain[3] : ''}'`
  const parts = parseDateTime(column, value)
  const fraction = checkFraction(column, value, parts.fraction, precision)
  return quoteString(`${parts.date} ${parts.time}${fraction ? '.' + fraction : ''}`)
}

function timeLiteral(column: TargetColumn, value: WireValue): string {
  if (typeof value !== 'string' || !/^-?\d{1,3}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value.trim())) {
    throw cannotHold(column, value, 'a TIME is "[-]HHH:MM:SS[.ffffff]"')
  }
  return quoteString(value.trim())
}

function yearLiteral(column: TargetColumn, value: WireValue): string {
  if (typeof value === 'number' && Number.isInteger(value)) return String(value)
  if (typeof value === 'string' && /^\d{1,4}$/.test(value.trim())) return value.trim()
  throw cannotHold(column, value, 'a YEAR is an integer')
}

/** Makes the SQL literal for one value of a column; see literalWriter. */
export type LiteralWriter = (value: WireValue | undefined) => string

/**
 * The literal writer for `column` (resolved once per column, called once per value): the SQL
 * literal that stores a wire value in the column exactly. `sourceKind` is the backup column's
 * kind when known. The writer throws DatabaseError (details.column) when MySQL cannot hold the
 * value (NaN, a time of day into a DATE, more fraction digits than the column keeps) and
 * FormatError when the value is malformed for its kind (binary that is not base64).
 */
export function literalWriter(column: TargetColumn, sourceKind?: ValueKind): LiteralWriter {
  const orNull =
    (write: (value: WireValue) => string): LiteralWriter =>
    (value) =>
      value === null || value === undefined ? 'NULL' : write(value)
  switch (typeClassOf(column.type)) {
    case 'integer':
    case 'bigint':
      return orNull((value) => integerLiteral(column, value))
    case 'year':
      return orNull((value) => yearLiteral(column, value))
    case 'decimal':
      return orNull((value) => decimalLiteral(column, value))
    case 'float':
      return orNull((value) => floatLiteral(column, value, true))
    case 'double':
      return orNull((value) => floatLiteral(column, value, false))
    case 'bit':
      return orNull((value) => bitLiteral(column, value))
    case 'binary':
    case 'geometry':
      return orNull((value) => binaryLiteral(column, value, sourceKind))
    case 'date':
      return orNull((value) => dateLiteral(column, value))
    case 'datetime':
    case 'timestamp': {
      const precision = typeLength(column.type) ?? 0
      return orNull((value) => dateTimeLiteral(column, value, precision))
    }
    case 'time':
      return orNull((value) => timeLiteral(column, value))
    case 'json':
      return orNull((value) => jsonLiteral(value, sourceKind))
    case 'text':
    case 'enum':
    case 'set':
    case 'other':
      return orNull(textLiteral)
  }
}

/** One value's literal: `literalWriter(column, sourceKind)(value)`, for the odd value such as a key. */
export function sqlLiteral(column: TargetColumn, value: WireValue | undefined, sourceKind?: ValueKind): string {
  return literalWriter(column, sourceKind)(value)
}
